/**
 * `deno task report RUNS... --out DIR`: static HTML dashboards from run records.
 * @module
 */
import { booleanFlag, numberFlag, parseCommandArgs, stringFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, info, out, outJson } from "../output.ts";
import { UsageError } from "../../core/errors.ts";
import { buildSite, readRuns } from "../../reports/site.ts";
import { checkGates } from "../../reports/compare.ts";
import { runLabel } from "../../reports/page.ts";
import { COCO_STAT_NAMES } from "../../benchmarks/metrics/coco.ts";

const HELP =
  `deno task report RUN... --out DIR [--compare A B] [--force] [--fail-below AP] [--max-regression D]

Examples:
  deno task report runs/odinw-2026-11-22 --out site
  deno task report runs/a runs/b --out site --compare runs/a runs/b
  deno task report runs/baseline runs/candidate --out site --max-regression 0.005   (exit 3 on regression)

Each RUN is a run folder (run.json inside, or one sub-folder per engine/model combination) or a
run.json file. Writes index.html (leaderboard), one page per run, compare.html, and
results.json / results.csv / results.md. Pages are single self-contained files: chart.js, styles
and data are inlined and nothing is fetched from a network.

Options:
  --out DIR            output folder (required)
  --compare A B        the comparison page shows these two runs
  --force              compare runs on different data, splits, protocols or prompts anyway
  --fail-below AP      exit 3 when a run's mean AP (0..1) is below AP
  --max-regression D   exit 3 when a run's mean AP is more than D below the first run's
  --details            also print pycocotools' 12-line summary for every run and task
  --open               print the path of index.html
  --json               print the summary as JSON`;

/** The `report` subcommand. */
export const command: Command = {
  name: "report",
  summary: "build self-contained HTML dashboards from run records",
  async run(args) {
    const parsed = await parseCommandArgs("report", args, {
      out: { type: "string" },
      compare: { type: "boolean" },
      force: { type: "boolean" },
      "fail-below": { type: "string" },
      "max-regression": { type: "string" },
      open: { type: "boolean" },
      details: { type: "boolean" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const outDir = stringFlag(parsed, "out");
    if (!outDir) throw new UsageError("report: --out DIR is required. See 'report --help'.");
    let inputs = parsed.positionals;
    if (inputs.length === 0) {
      throw new UsageError("report: give one or more run folders or run.json files");
    }
    let compare: [number, number] | undefined;
    if (booleanFlag(parsed, "compare")) {
      if (inputs.length !== 2) {
        throw new UsageError("report: --compare takes exactly two runs: --compare A B");
      }
      compare = [0, 1];
      inputs = [...inputs];
    }
    const index = await buildSite(inputs, outDir, { force: booleanFlag(parsed, "force"), compare });
    const records = (await readRuns(inputs)).map((r) => r.record);
    const gateLines = checkGates(records, {
      failBelow: numberFlag("report", parsed, "fail-below"),
      maxRegression: numberFlag("report", parsed, "max-regression"),
    });
    if (booleanFlag(parsed, "json")) {
      outJson({
        index,
        runs: records.map((r) => ({ id: r.id, label: runLabel(r), mean: r.summary.mean })),
        gates: gateLines,
      });
    } else {
      const tasks = [...new Set(records.flatMap((r) => r.tasks.map((t) => t.name)))];
      const fmt = (v?: number) => (v === undefined || v < 0 ? "—" : (100 * v).toFixed(1));
      out(formatTable(
        ["task", ...records.map(runLabel)],
        [
          ...tasks.map((
            name,
          ) => [
            name,
            ...records.map((r) => fmt(r.tasks.find((t) => t.name === name)?.result?.headline)),
          ]),
          ["Average", ...records.map((r) => fmt(r.summary.mean))],
        ],
      ));
      if (booleanFlag(parsed, "details")) {
        const { cocoSummary } = await import("./eval.ts");
        for (const record of records) {
          for (const task of record.tasks) {
            if (!task.result || task.result.metric !== "coco") continue;
            out(`\n${runLabel(record)} — ${task.name} (${task.split})`);
            out(cocoSummary(COCO_STAT_NAMES.map((k) => task.result!.named[k] ?? -1)));
          }
        }
      }
      for (const line of gateLines) out(`gate ok: ${line}`);
    }
    if (booleanFlag(parsed, "open")) out(index);
    else info(`report: ${index}`);
    return 0;
  },
};
