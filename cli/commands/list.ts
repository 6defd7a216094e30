/**
 * `deno task list engines|suites|protocols|datasets [--json] [--check]`.
 * @module
 */
import { booleanFlag, parseCommandArgs, stringFlag } from "../args.ts";
import { type DataRoot, describeDataRoot, resolveDataRoot } from "../../datasets/data_root.ts";
import type { Command } from "../command.ts";
import { formatTable, out, outJson } from "../output.ts";
import { preparePlugins } from "../plugins.ts";
import { registries, type RegistryName } from "../../core/registries.ts";
import { unknownNameMessage } from "../../core/did_you_mean.ts";
import { UsageError } from "../../core/errors.ts";
import type { EngineFactory } from "../../engines/engine.ts";

const HELP = `deno task list engines|suites|protocols|datasets [--json] [--check] [--data DIR]

Examples:
  deno task list engines                   engines with availability and the reason when unavailable
  deno task list engines --json            [{"name", "available", "reason", ...}]
  deno task list suites --plugin ./my_plugin.ts
  deno task list datasets --check          dataset cards and what is present under the data root

Options:
  --json         print JSON on stdout
  --check        (datasets) check files under the data root
  --data DIR     data root (default: $GLIP_BENCH_DATA, then ./DATASET)
  --plugin PATH  load a plugin module first (repeatable)
  --config FILE  JSON file with defaults for these options`;

/** The `list` subcommand. */
export const command: Command = {
  name: "list",
  summary: "list registered engines, suites, protocols or datasets",
  async run(args) {
    const parsed = await parseCommandArgs("list", args, {
      check: { type: "boolean" },
      data: { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    await preparePlugins(parsed);
    const what = parsed.positionals[0];
    const names = Object.keys(registries);
    if (!what) throw new UsageError(`list: say what to list: ${names.join(", ")}`);
    if (!(what in registries)) {
      throw new UsageError(`list: ${unknownNameMessage("registry", what, names)}`);
    }
    const json = booleanFlag(parsed, "json");
    const registry = registries[what as RegistryName];
    if (what === "engines") return await listEngines(json);
    if (what === "datasets" && booleanFlag(parsed, "check")) {
      return await checkDatasets(resolveDataRoot(stringFlag(parsed, "data")), json);
    }
    const rows = registry.list().map((e) => ({
      name: e.name,
      summary: e.summary,
      origin: e.origin ?? "builtin",
    }));
    if (json) outJson(rows);
    else {out(
        formatTable(["name", "summary", "origin"], rows.map((r) => [r.name, r.summary, r.origin])),
      );}
    return 0;
  },
};

async function listEngines(json: boolean): Promise<number> {
  const rows = [];
  for (const entry of registries.engines.list()) {
    let availability;
    try {
      const factory: EngineFactory = await registries.engines.get(entry.name);
      availability = await factory.probe();
    } catch (error) {
      availability = { available: false, reason: `failed to load: ${(error as Error).message}` };
    }
    rows.push({
      name: entry.name,
      available: availability.available,
      reason: availability.reason ?? "",
      summary: entry.summary,
      origin: entry.origin ?? "builtin",
      ...(availability.details ? { details: availability.details } : {}),
    });
  }
  if (json) outJson(rows);
  else {
    out(formatTable(
      ["name", "available", "summary / reason", "origin"],
      rows.map((
        r,
      ) => [r.name, r.available ? "yes" : "no", r.available ? r.summary : r.reason, r.origin]),
    ));
  }
  return 0;
}

async function checkDatasets(root: DataRoot, json: boolean): Promise<number> {
  const results = [];
  for (const entry of registries.datasets.list()) {
    const dataset = await registries.datasets.get(entry.name);
    const check = await dataset.check(root.path);
    results.push({
      name: entry.name,
      card: dataset.card,
      present: check.present,
      lines: check.lines,
    });
  }
  if (json) {
    outJson({ root: root.path, datasets: results });
    return 0;
  }
  out(`data root: ${describeDataRoot(root)}`);
  for (const result of results) {
    out(`\n${result.name}: ${result.present ? "present" : "missing"} — ${result.card.summary}`);
    out(`  splits: ${result.card.splits.join(", ")}`);
    for (const [split, counts] of Object.entries(result.card.counts ?? {})) {
      out(`  ${split}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")}`);
    }
    for (const quirk of result.card.quirks ?? []) out(`  quirk: ${quirk}`);
    for (const line of result.lines) out(`  ${line}`);
  }
  return 0;
}
