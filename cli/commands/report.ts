/**
 * `deno task report RUNS... --out DIR`: static HTML dashboards from run records.
 * @module
 */
import { booleanFlag, numberFlag, parseCommandArgs, stringFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, info, out, outJson } from "../output.ts";
import { UsageError } from "../../core/errors.ts";
import { buildSiteFromRuns, readRuns } from "../../reports/site.ts";
import { checkGates } from "../../reports/compare.ts";
import { headlineNumbers, runLabel } from "../../reports/page.ts";
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
and data are inlined and nothing is fetched from a network. The site is built in a temporary
folder and renamed into place: a refused comparison leaves nothing behind. An existing --out is
replaced only when it is empty or an earlier report.

A run is compared with a published GLIP number only when the number was measured on the same
model (a released checkpoint recognised by file name or sha256, or bench --reference KEY), suite,
tasks, split, prompt variant, protocol and shots; each page says why a run has none.

Options:
  --out DIR            output folder (required)
  --compare A B        the comparison page shows these two runs
  --force              compare runs on different data, splits, protocols or prompts anyway
  --fail-below X       exit 3 when a run's headline number (0..1) is below X: mean AP over
                       tasks (largest shot count for adapted runs), COCO/LVIS AP, or
                       Flickr30K R@1 of its first split
  --max-regression D   exit 3 when a run's headline is more than D below the first run's
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
    const runs = await readRuns(inputs);
    const index = await buildSiteFromRuns(runs, outDir, {
      force: booleanFlag(parsed, "force"),
      compare,
    });
    const records = runs.map((r) => r.record);
    const gateLines = checkGates(records, {
      failBelow: numberFlag("report", parsed, "fail-below"),
      maxRegression: numberFlag("report", parsed, "max-regression"),
    });
    if (booleanFlag(parsed, "json")) {
      outJson({
        index,
        runs: records.map((r) => ({
          id: r.id,
          label: runLabel(r),
          headlines: headlineNumbers(r).map((h) => ({ name: h.label, value: h.value })),
        })),
        gates: gateLines,
      });
    } else {
      const tasks = [...new Set(records.flatMap((r) => r.tasks.map((t) => t.name)))];
      const fmt = (v?: number) => (v === undefined || v < 0 ? "—" : (100 * v).toFixed(1));
      const metric = (r: (typeof records)[number]) => (r.suite === "flickr30k" ? "R@1" : "AP");
      const zeroShotMean = (r: (typeof records)[number]) => {
        if (r.suite === "flickr30k") return undefined; // splits are not averaged
        const values = r.tasks.map((t) => t.result?.headline ?? -1).filter((v) => v >= 0);
        return values.length ? values.reduce((a, b) => a + b, 0) / values.length : undefined;
      };
      out(formatTable(
        ["task", ...records.map((r) => `${runLabel(r)} (${metric(r)})`)],
        [
          ...tasks.map((
            name,
          ) => [
            name,
            ...records.map((r) => fmt(r.tasks.find((t) => t.name === name)?.result?.headline)),
          ]),
          ["Average", ...records.map((r) => fmt(zeroShotMean(r)))],
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
