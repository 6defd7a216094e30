/**
 * `deno task conformance`: a bundle's text, image and head graphs on each engine at a given
 * input size, every output compared with onnxruntime-node CPU, detections compared as sets.
 * Exit 0 when every engine is within tolerance, 1 when one is not, 2 on usage errors.
 * @module
 */
import { booleanFlag, listFlag, parseCommandArgs, requiredFlag, stringFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, info, out, outJson } from "../output.ts";
import { preparePlugins } from "../plugins.ts";
import { UsageError } from "../../core/errors.ts";
import { unknownNameMessage } from "../../core/did_you_mean.ts";
import { engines } from "../../core/registries.ts";
import { loadBundle } from "../../models/bundle.ts";
import { checkEngineParity, type ParityResult, parseInputSize } from "../../engines/parity.ts";
import type { Dtype } from "../../engines/engine.ts";

const HELP = `deno task conformance --model DIR --engine E[,E] [--size HxW] [--dtype fp32|fp16]

Examples:
  deno task conformance --model bundles/glip-t --engine webgpu,wasm --size 800x1344
  deno task conformance --model bundles/glip-t --engine webgpu --dtype fp16 --size 800x1344
  deno task conformance --model .cache/bundles/nano-seed0-v2 --engine wasm --json

Runs the bundle's text encoder, image backbone and fusion head on each engine at the given
input size and compares every output with onnxruntime-node on the CPU: an output passes when
its max abs error <= relative x (the reference's largest magnitude) + absolute (fp32: 1e-3 and
1e-5; fp16, against the fp32 reference: 2e-2 and 2e-3). The detections after GLIP's
post-processing are compared as sets: each of the reference's top 20 must have an engine
detection of the same label with IoU >= 0.95 and a score within 2e-3 (fp16: 90% of them, IoU
0.9, 1e-2). Full sizes are slow on a software GPU (lavapipe): minutes per engine.

Exit codes: 0 every engine within tolerance, 1 an engine out of tolerance (or failed), 2 usage.

Options:
  --model DIR     a model bundle (deno task export writes one)
  --engine LIST   engines to check, comma-separated (see deno task list engines)
  --size HxW      network input size, e.g. 800x1344 (default: the bundle's preprocessing of a
                  224x160 test image)
  --dtype D       fp32 (default) or fp16 (webgpu with shader-f16)
  --threads N     CPU threads of the engines and the reference
  --json          print the full result as JSON`;

/** Parses `HxW` (positive integers up to 8192) given to `conformance --size`. */
export function parseSize(text: string): { height: number; width: number } {
  return parseInputSize(text, "conformance: --size");
}

function printResult(result: ParityResult): void {
  out(
    `${result.model} at ${result.size.height}x${result.size.width} against ${result.reference} (${
      result.referenceSeconds.toFixed(1)
    } s)`,
  );
  const rows: (string | number)[][] = [];
  for (const engine of result.engines) {
    const graphs = ["text", "image", "head"] as const;
    const worst = graphs.map((graph) => {
      if (engine.notExposed.includes(graph as "text" | "image")) return "not exposed";
      const of = engine.outputs.filter((o) => o.graph === graph);
      if (!of.length) return "—";
      return Math.max(...of.map((o) => o.scaledError)).toExponential(1);
    });
    rows.push([
      `${engine.engine}${engine.dtype === "fp16" ? " fp16" : ""}`,
      ...worst,
      `${engine.detections.matched}/${engine.detections.top}`,
      engine.seconds.toFixed(1),
      engine.ok ? "ok" : "FAIL",
    ]);
  }
  out(formatTable(
    ["engine", "text err", "image err", "head err", "top dets matched", "seconds", "verdict"],
    rows,
  ));
  out("(err: max abs error over the reference's largest magnitude, worst output of the graph)");
  const versions = (libraries: Record<string, string>) =>
    Object.entries(libraries).map(([name, version]) => `${name} ${version}`).join(", ");
  out(
    `versions: reference ${versions(result.referenceLibraries)}; ${
      result.engines.map((e) => `${e.engine} ${versions(e.libraries) || "(not loaded)"}`).join("; ")
    }`,
  );
  for (const engine of result.engines) {
    for (const failure of engine.failures) out(`${engine.engine}: ${failure}`);
  }
}

/** The `conformance` subcommand. */
export const command: Command = {
  name: "conformance",
  summary: "check engines against onnxruntime-node CPU on a bundle at full size",
  async run(args) {
    const parsed = await parseCommandArgs("conformance", args, {
      model: { type: "string" },
      engine: { type: "string" },
      size: { type: "string" },
      dtype: { type: "string" },
      threads: { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    if (parsed.positionals.length) {
      throw new UsageError(
        `conformance: unexpected argument '${parsed.positionals[0]}'. See 'conformance --help'.`,
      );
    }
    const modelDir = requiredFlag("conformance", parsed, "model");
    const names = listFlag(parsed, "engine");
    if (!names?.length) {
      throw new UsageError("conformance: --engine is required, e.g. --engine webgpu,wasm");
    }
    const sizeText = stringFlag(parsed, "size");
    const size = sizeText === undefined ? undefined : parseSize(sizeText);
    const dtype = (stringFlag(parsed, "dtype") ?? "fp32") as Dtype;
    if (dtype !== "fp32" && dtype !== "fp16") {
      throw new UsageError(`conformance: --dtype must be fp32 or fp16 (got '${dtype}')`);
    }
    const threadsText = stringFlag(parsed, "threads");
    const threads = threadsText === undefined ? undefined : Number(threadsText);
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
      throw new UsageError(
        `conformance: --threads must be a positive integer (got '${threadsText}')`,
      );
    }
    await preparePlugins(parsed);
    const known = engines.names();
    for (const name of names) {
      if (!known.includes(name)) {
        throw new UsageError(`conformance: ${unknownNameMessage("engine", name, known)}`);
      }
    }
    const bundle = await loadBundle(modelDir);
    const factories = await Promise.all(names.map((name) => engines.get(name)));
    const result = await checkEngineParity(bundle, factories, {
      size,
      dtype,
      threads,
      log: (line) => info(line),
    });
    if (booleanFlag(parsed, "json")) outJson(result);
    else printResult(result);
    return result.ok ? 0 : 1;
  },
};
