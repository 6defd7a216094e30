/**
 * The single CLI entry: `deno run -A cli/main.ts <command> ...` (the `deno task` names wrap it).
 * Subcommands are imported lazily. Exit codes: 0 ok, 1 run failed, 2 usage error, 3 gate failed.
 *
 * @module
 */
import { exitCodeFor, InputError, UsageError } from "../core/errors.ts";
import { unknownNameMessage } from "../core/did_you_mean.ts";
import { permissionAdvice } from "../core/permissions.ts";
import type { Command } from "./command.ts";
import { errorLine, out } from "./output.ts";

/** Subcommands and their lazy loaders. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  bench: {
    summary: "run a benchmark suite over engines and models; write run records and a report",
    load: async () => (await import("./commands/bench.ts")).command,
  },
  eval: {
    summary: "evaluate detections exactly as pycocotools, lvis-api or MDETR's Flickr30K evaluator",
    load: async () => (await import("./commands/eval.ts")).command,
  },
  export: {
    summary: "turn an official GLIP checkpoint (or a seed) into a model bundle",
    load: async () => (await import("./commands/export.ts")).command,
  },
  prompt: {
    summary: "show GLIP's exact prompts, tokens and label-to-token maps",
    load: async () => (await import("./commands/prompt.ts")).command,
  },
  report: {
    summary: "build self-contained HTML dashboards from run records",
    load: async () => (await import("./commands/report.ts")).command,
  },
  conformance: {
    summary: "check engines against onnxruntime-node CPU on a bundle at full size",
    load: async () => (await import("./commands/conformance.ts")).command,
  },
  trace: {
    summary: "write every stage of a bundle as .npy and compare with a reference",
    load: async () => (await import("./commands/trace.ts")).command,
  },
  fewshot: {
    summary: "write GLIP's k-shot training splits (seeded or sorted sampler)",
    load: async () => (await import("./commands/fewshot.ts")).command,
  },
  data: {
    summary: "download a dataset (odinw, coco, lvis, flickr30k) with resume and sha256 checks",
    load: async () => (await import("./commands/data.ts")).command,
  },
  list: {
    summary: "list registered engines, suites, protocols or datasets",
    load: async () => (await import("./commands/list.ts")).command,
  },
};

const HELP = `glip-bench: GLIP benchmarks, engines, metrics and reports

Examples:
  deno task bench odinw                 run ODinW-13 zero-shot (the demo when no data is present)
  deno task list engines                what can run here, and why not
  deno task eval coco --gt gt.json --dt dt.json
  deno task report runs/odinw-2026-11-22 --out site

Usage: deno task <command> [options]   (or: deno run -A cli/main.ts <command> ...)

Commands:
${""}`;

/** Prints the top-level help. */
export function printHelp(): void {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  out(HELP + names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`).join("\n"));
  out("\nEvery command takes --help, --json, --config FILE and --plugin PATH.");
}

/** Runs the CLI with `args`; returns the exit code. Never throws. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    printHelp();
    return name === undefined ? 2 : 0;
  }
  try {
    const entry = COMMANDS[name];
    if (!entry) throw new UsageError(unknownNameMessage("command", name, Object.keys(COMMANDS)));
    const command = await entry.load();
    return await command.run(rest);
  } catch (error) {
    reportError(error, name);
    return exitCodeFor(error);
  }
}

/**
 * Prints an error: the message alone for expected errors, the stack for internal ones, and for a
 * permission Deno refused, which flag `deno task <command>` lacks and how to grant it.
 */
export function reportError(error: unknown, command?: string): void {
  const advice = command === undefined ? undefined : permissionAdvice(error, command);
  if (advice !== undefined) {
    errorLine((error as Error).message);
    errorLine(advice);
  } else if (error instanceof UsageError || error instanceof InputError) {
    errorLine(error.message);
  } else if (error instanceof Error) {
    errorLine(error.message);
    if (Deno.env.get("GLIP_BENCH_DEBUG")) errorLine(error.stack ?? "");
  } else {
    errorLine(String(error));
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
