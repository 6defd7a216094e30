/**
 * `deno task bench <suite>`: turns the flags into `runBenchmark` options (benchmarks/bench_run.ts),
 * prints the results and builds the report. Also `bench merge` (shards) and `bench --reproduce`.
 *
 * @module
 */
import { join } from "node:path";
import {
  booleanFlag,
  integerFlag,
  integerListFlag,
  listFlag,
  numberFlag,
  parseCommandArgs,
  type ParsedArgs,
  stringFlag,
} from "../args.ts";
import type { Command } from "../command.ts";
import {
  DEFAULT_PROGRESS_SECONDS,
  formatTable,
  info,
  out,
  outJson,
  progress,
  warn,
} from "../output.ts";
import { preparePlugins } from "../plugins.ts";
import { suites } from "../../core/registries.ts";
import { GateError, UsageError } from "../../core/errors.ts";
import { KUBERNETES_COUNT_VARIABLE, resolveShardFlag } from "../../benchmarks/shard.ts";
import { type BenchResult, runBenchmark } from "../../benchmarks/bench_run.ts";
import { parseShots, type Shots } from "../../benchmarks/adaptation.ts";
import { reproduceRun } from "../../benchmarks/reproduce.ts";
import { mergeShards } from "../../benchmarks/merge.ts";
import type { FewShotSampler, KShotSource } from "../../datasets/fewshot.ts";
import type { RunRecord } from "../../benchmarks/run_record.ts";
import { parityFailed } from "../../benchmarks/parity_record.ts";
import { parseInputSize } from "../../engines/parity.ts";
import type { ProgressReporter } from "../../benchmarks/runner.ts";
import { parseMaxImagePixels } from "../../models/image/decode.ts";

const HELP = `deno task bench <suite> [options]
deno task bench merge SHARD_DIR... --out DIR
deno task bench --reproduce RUN_DIR/run.json [--out DIR]

Examples:
  deno task bench odinw                                   ODinW-13 zero-shot (the demo when no data is present)
  deno task bench odinw --model bundles/glip-t --tasks Aquarium,pothole --prompt engineered
  deno task bench odinw --model glip_tiny_model_o365_goldg_cc_sbu.pth --model-config glip-t
  deno task bench odinw --engine onnx,webgpu --limit 5     compare engines on a smoke run
  deno task bench odinw --shard 2/4 --out runs/s2          one slice of the images (job arrays)
  deno task bench odinw --shard auto --out runs/s\$SLURM_ARRAY_TASK_ID   the slice of this Slurm/k8s task
  deno task bench merge runs/s1 runs/s2 runs/s3 runs/s4 --out runs/all
  deno task bench odinw --resume --out runs/odinw-2026-11-22   continue a killed run
  deno task bench --reproduce runs/odinw-2026-11-22/run.json   run a record again and compare

Options:
  --engine LIST        engines to run (default onnx); see 'deno task list engines'
  --model LIST         bundle folders or .pth checkpoints (exported on first use and cached)
  --model-config NAME  architecture of .pth models (default glip-t)
  --protocol NAME      zero-shot (default), few-shot, prompt-tuning, linear-probe
  --tasks LIST         task names (default: all of the set)
  --set NAME           odinw13 (default) or odinw35
  --prompt NAME        raw (odinw_13 names, default) or engineered (odinw_35 prompts)
  --split NAME         split to evaluate (default: GLIP's zero-shot split; test for fine-tuning);
                       coco --split test-dev runs image_info_test-dev2017.json and writes
                       submission/detections_test-dev2017_<alg>_results.zip for the COCO server
                       (no metric is computed locally)
  --data DIR           data root (default: $GLIP_BENCH_DATA, then ./DATASET)
  --demo               run the embedded demo (synthetic ODinW-shaped data, the nano demo model)
  --out DIR            run folder (default: a new runs/<suite>-<date>, -2, -3, ...)
  --resume             continue the run in --out, keeping finished images; refused when the
                       model, engine, prompts, dtype or any setting differs from its fingerprint
  --shard i/n|auto     run a deterministic slice of the images; auto takes i/n from a Slurm job
                       array (SLURM_ARRAY_TASK_ID, _MIN, _COUNT or _MAX) or a Kubernetes Indexed
                       Job (JOB_COMPLETION_INDEX and ${KUBERNETES_COUNT_VARIABLE}, which the Job sets to its
                       spec.completions); see examples/ and README "Cluster runs"
  --limit N            only the first N images of each task (smoke run; numbers not comparable)
  --threads N          CPU threads per engine
  --dtype fp32|fp16    compute precision (fp16: webgpu on adapters with shader-f16)
  --allow-cpu-fallback let GPU engines run nodes on the CPU (reported in the run record)
  --check-parity       after the run, check its engine against onnxruntime-node CPU on the run's
                       bundle at full size (text, image and head outputs, detections as sets;
                       fp16 against the fp32 reference at the fp16 tolerance) and record it as
                       engineParity; a failed check keeps the results, flags the report and
                       exits 1. An onnx CPU fp32 run is recorded as the reference itself
  --parity-size HxW    the check's network input size (default: the largest input the bundle's
                       test preprocessing makes, 800x1344 for GLIP's 800/1333: the largest
                       tensors, where GPU binding limits bite)
  --max-image-pixels N PIL's MAX_IMAGE_PIXELS: warn above N pixels, refuse images above 2N before
                       decoding (default 89478485; 'none': no limit); the same as
                       GLIP_BENCH_MAX_IMAGE_PIXELS=N, recorded in run.json when not the default
  --checkpoints PAT    (adapting protocols) adapted checkpoints or bundles, e.g.
                       'ckpts/{task}/{shots}_{seed}.pth', evaluated on --split (default test)
  --trainer CMD        (adapting protocols) an external trainer run once per cell, e.g.
                       'python tools/finetune.py ... {task} {shots} {seed} {train_json} {val_json} {out}';
                       it leaves a checkpoint in {out} (bundle folder, .pth, .safetensors)
  --trainer native     the suite's own GLIP tuning of --model, best-on-val: prompt-tuning (its
                       default; AdamW lr 0.05, wd 0.25), few-shot (full model; lr 1e-4, language
                       1e-5, wd 0.05) or linear-probe (its default; GLIP's linear_prob: only the
                       box, centerness and text-projection layers train; lr 1e-4, wd 0.05);
                       batch 4, multi-scale + flip, plateau and early stopping
  --epochs N           (--trainer native) at most N epochs (GLIP: 200, with early stopping)
  --train-memory GB    (--trainer native) peak memory of each train graph (default 80% of the
                       memory available when the run starts); a graph over it (GLIP-T at
                       800x1333) is recomputed by layer segments, whose gradients equal the plain
                       graph's within float32 rounding, not bit for bit: the budget (given or
                       default) is in the fingerprint, so --resume keeps it and refuses another;
                       a budget below one layer's need fails before training
  --sampler NAME       k-shot sampler for --trainer: seeded (COCODataset, default) or sorted
                       (CocoGrounding, GLIP's README path: the same images for every seed)
  --fewshot-source S   for --trainer: sampled (default: k-shot images drawn by --sampler from the
                       train split, selection on val) or prepared (GLIP's official
                       fewshot_{train,val}_shot{k}_seed{s}.json files in each task folder,
                       selection on their k-shot val, as GLIP's --use_prepared_data)
  --shots LIST         shots for the adaptation protocols (default 1,3,5,10); 'all' is GLIP's
                       full-data tuning (patience 2/4, one copy per epoch), e.g. --shots 1,3,all
  --seeds LIST         seeds for the adaptation protocols (default 3,30,300)
  --reference KEY      the published model this checkpoint is (e.g. glip-t, paper-glip-t), for
                       a checkpoint whose file name and digest the report does not recognise;
                       see 'deno task report --help' for how runs are matched with published numbers
  --no-report          do not build the HTML report
  --reproduce RECORD   re-run what a run.json records (bundle, settings, engine) into a new
                       folder (--out); exit 3 unless every detection file and metric is identical
                       (CPU engines) or within the engine-parity tolerance (GPU engines)
  --json               print the results (per task, with AP) as JSON
  --progress-every S   when stderr is not a terminal (a cluster log), a progress line every S
                       seconds (default ${DEFAULT_PROGRESS_SECONDS}); on a terminal a bar
  --quiet              no progress bar or lines
  --verbose            let the engines' own logs through (onnxruntime-web prints every shader)

A run folder has one writer at a time (run.lock): a second run into it fails at once.`;

/** The `bench` subcommand. */
export const command: Command = {
  name: "bench",
  summary:
    "run a benchmark suite (odinw, ...) over engines and models; write run records and a report",
  async run(args) {
    if (args[0] === "merge") return await mergeCommand(args.slice(1));
    const parsed = await parseCommandArgs("bench", args, {
      engine: { type: "string" },
      model: { type: "string" },
      "model-config": { type: "string" },
      protocol: { type: "string" },
      tasks: { type: "string" },
      set: { type: "string" },
      prompt: { type: "string" },
      split: { type: "string" },
      data: { type: "string" },
      demo: { type: "boolean" },
      out: { type: "string" },
      resume: { type: "boolean" },
      shard: { type: "string" },
      limit: { type: "string" },
      threads: { type: "string" },
      dtype: { type: "string" },
      "allow-cpu-fallback": { type: "boolean" },
      "check-parity": { type: "boolean" },
      "parity-size": { type: "string" },
      "no-report": { type: "boolean" },
      checkpoints: { type: "string" },
      trainer: { type: "string" },
      epochs: { type: "string" },
      "train-memory": { type: "string" },
      sampler: { type: "string" },
      "fewshot-source": { type: "string" },
      shots: { type: "string" },
      seeds: { type: "string" },
      reproduce: { type: "string" },
      reference: { type: "string" },
      "progress-every": { type: "string" },
      quiet: { type: "boolean" },
      verbose: { type: "boolean" },
      "max-image-pixels": { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const pixelLimit = stringFlag(parsed, "max-image-pixels");
    if (pixelLimit !== undefined) {
      // The flag is the variable: every image decoder of this run reads it, trainers inherit it.
      parseMaxImagePixels(pixelLimit, "bench: --max-image-pixels");
      Deno.env.set("GLIP_BENCH_MAX_IMAGE_PIXELS", pixelLimit);
    }
    const reporter = progressReporter(parsed);
    await preparePlugins(parsed);
    const reproduce = stringFlag(parsed, "reproduce");
    if (reproduce !== undefined) return await reproduceCommand(reproduce, parsed);
    const suiteName = parsed.positionals[0];
    if (!suiteName) {
      throw new UsageError(
        `bench: name a suite: ${suites.names().join(", ")}. See 'bench --help'.`,
      );
    }
    const suite = await suites.get(suiteName);
    const json = booleanFlag(parsed, "json");
    if (suite.kind !== "detection") {
      return await suite.run({ args: parsed.positionals.slice(1), json });
    }
    const shardFlag = stringFlag(parsed, "shard");
    const shard = shardFlag === undefined
      ? undefined
      : resolveShardFlag(shardFlag, Deno.env.toObject());
    if (shard?.source) info(`shard ${shard.index}/${shard.count} from the ${shard.source}`);
    const result = await runBenchmark({
      suite: suiteName,
      protocol: stringFlag(parsed, "protocol"),
      engines: listFlag(parsed, "engine"),
      models: listFlag(parsed, "model"),
      modelConfig: stringFlag(parsed, "model-config"),
      tasks: listFlag(parsed, "tasks"),
      set: stringFlag(parsed, "set"),
      prompt: stringFlag(parsed, "prompt"),
      split: stringFlag(parsed, "split"),
      dataRoot: stringFlag(parsed, "data"),
      demo: booleanFlag(parsed, "demo"),
      outDir: stringFlag(parsed, "out"),
      resume: booleanFlag(parsed, "resume"),
      shard: shard && { index: shard.index, count: shard.count },
      limit: integerFlag("bench", parsed, "limit", { min: 1 }),
      threads: integerFlag("bench", parsed, "threads", { min: 1 }),
      dtype: stringFlag(parsed, "dtype") as "fp32" | "fp16" | undefined,
      allowCpuFallback: booleanFlag(parsed, "allow-cpu-fallback"),
      checkParity: booleanFlag(parsed, "check-parity"),
      paritySize: paritySizeFlag(parsed),
      checkpoints: stringFlag(parsed, "checkpoints"),
      trainer: stringFlag(parsed, "trainer"),
      epochs: integerFlag("bench", parsed, "epochs", { min: 1 }),
      trainMemoryBytes: trainMemoryFlag(parsed),
      sampler: stringFlag(parsed, "sampler") as FewShotSampler | undefined,
      fewShotSource: stringFlag(parsed, "fewshot-source") as KShotSource | undefined,
      shots: shotsFlag(parsed),
      seeds: integerListFlag("bench", parsed, "seeds"),
      reference: stringFlag(parsed, "reference"),
      verbose: booleanFlag(parsed, "verbose"),
      command: ["deno", "task", "bench", ...args],
      log: info,
      warn,
      progress: reporter,
    });
    const changed = result.runs.some((r) => !r.unchanged);
    if (!booleanFlag(parsed, "no-report") && !shard && changed) {
      await buildReport(result.runs.map((r) => r.dir), join(result.outDir, "report"));
    }
    if (result.adapted) printAdapted(result, json);
    else printResults(result.runs.map((r) => r.record), json);
    return reportParityFailures(result.runs) ? 1 : 0;
  },
};

/** `--parity-size HxW`, parsed. */
function paritySizeFlag(parsed: ParsedArgs): { height: number; width: number } | undefined {
  const text = stringFlag(parsed, "parity-size");
  return text === undefined ? undefined : parseInputSize(text, "bench: --parity-size");
}

/** Warns about each run whose record holds a failed parity check; true when there is one. */
function reportParityFailures(runs: { dir: string; record: RunRecord }[]): boolean {
  const failed = runs.filter((run) => parityFailed(run.record));
  for (const { dir, record } of failed) {
    const bad = record.engineParity!.filter((c) => !c.ok);
    const failures = bad.flatMap((c) => c.failures);
    warn(
      `engine parity FAILED for ${bad[0].engine} (${dir}); its results are recorded, ` +
        `flagged:\n  ${failures.slice(0, 10).join("\n  ")}`,
    );
  }
  return failed.length > 0;
}

/** `--train-memory GB` in bytes (1 GB = 1e9 bytes); a non-positive or non-number value is a usage error. */
function trainMemoryFlag(parsed: ParsedArgs): number | undefined {
  const gb = numberFlag("bench", parsed, "train-memory");
  if (gb === undefined) return undefined;
  if (!(gb > 0)) {
    throw new UsageError(`bench: --train-memory must be a positive number of GB (got ${gb})`);
  }
  return gb * 1e9;
}

/** `bench --reproduce RECORD`: exit 0 when reproduced, 3 (GateError) when not. */
async function reproduceCommand(recordPath: string, parsed: ParsedArgs): Promise<number> {
  if (parsed.positionals.length > 0) {
    throw new UsageError(
      `bench --reproduce takes the record alone; it names its suite and settings (got '${
        parsed.positionals.join(" ")
      }')`,
    );
  }
  const result = await reproduceRun(recordPath, {
    outDir: stringFlag(parsed, "out"),
    log: info,
    warn,
    progress: progressReporter(parsed),
  });
  const how = result.mode === "exact"
    ? "every detections file and metric identical"
    : "every metric within 0.001 AP (GPU engine)";
  if (booleanFlag(parsed, "json")) {
    outJson({
      record: result.recordPath,
      rerun: result.run.dir,
      mode: result.mode,
      reproduced: result.reproduced,
      differences: result.differences,
    });
  } else if (result.reproduced) {
    out(`reproduced ${recordPath} in ${result.run.dir}: ${how}`);
  }
  if (!result.reproduced) {
    throw new GateError(
      `bench --reproduce: ${recordPath} was NOT reproduced (rerun in ${result.run.dir}; expected ${how}):\n  ${
        result.differences.slice(0, 20).join("\n  ")
      }${
        result.differences.length > 20 ? `\n  ... and ${result.differences.length - 20} more` : ""
      }`,
    );
  }
  return 0;
}

/** The progress of each task: a bar on a terminal, lines every --progress-every s, or none. */
function progressReporter(parsed: ParsedArgs): ProgressReporter {
  const quiet = booleanFlag(parsed, "quiet");
  const raw = stringFlag(parsed, "progress-every");
  const everySeconds = raw === undefined ? DEFAULT_PROGRESS_SECONDS : Number(raw);
  if (
    raw !== undefined && (raw.trim() === "" || !Number.isFinite(everySeconds) || everySeconds < 0)
  ) {
    throw new UsageError(`bench: --progress-every takes seconds >= 0 (got '${raw}')`);
  }
  return (label, total, alreadyDone) =>
    progress(label, total, { everySeconds, quiet, alreadyDone });
}

/** `--shots 1,3,all`: integers >= 1 or `all` (checked by the library's {@link parseShots}). */
function shotsFlag(parsed: ParsedArgs): Shots[] | undefined {
  const items = listFlag(parsed, "shots");
  return items === undefined ? undefined : parseShots(items);
}

/** Prints an adapting protocol's runs: mean ± std over seeds per shot count. */
function printAdapted(result: BenchResult, json: boolean): void {
  const records = result.runs;
  if (json) {
    outJson(records.map(({ record }) => ({
      engine: record.engine.engine,
      byShots: record.summary.byShots,
      tasks: Object.fromEntries(
        record.tasks.map((
          t,
        ) => [t.name, {
          zeroShot: t.result?.headline ?? null,
          cells: (t.cells ?? []).map((c) => ({
            shots: c.shots,
            seed: c.seed,
            AP: c.test.headline,
          })),
        }]),
      ),
    })));
  } else {
    for (const { record } of records) {
      out(
        `${record.engine.engine}: ${result.protocol}, mean ± std over seeds of the suite average AP`,
      );
      out(
        formatTable(
          ["shots", "AP", "± std"],
          Object.entries(record.summary.byShots ?? {}).map((
            [k, v],
          ) => [k, (100 * v.mean).toFixed(1), (100 * v.std).toFixed(1)]),
        ),
      );
    }
  }
}

async function buildReport(runDirs: string[], outDir: string): Promise<void> {
  try {
    const { buildSite } = await import("../../reports/site.ts");
    const index = await buildSite(runDirs, outDir);
    info(`report: ${index}`);
  } catch (error) {
    if ((error as Error).message.includes("Module not found")) {
      warn("the HTML report module is not available in this build; run records were written");
      return;
    }
    throw error;
  }
}

function fmt(value: number | undefined): string {
  return value === undefined || value < 0 ? "—" : (100 * value).toFixed(1);
}

function printResults(records: RunRecord[], json: boolean): void {
  if (json) {
    outJson(records.map((r) => ({
      model: r.model.name,
      engine: r.engine.engine,
      mean: r.summary.mean,
      tasks: Object.fromEntries(
        r.tasks.map((
          t,
        ) => [t.name, { AP: t.result?.headline ?? null, ...(t.result?.named ?? {}) }]),
      ),
    })));
    return;
  }
  const taskNames = records[0]?.tasks.map((t) => t.name) ?? [];
  // Flickr30k's numbers are recall at rank 1, not AP: the table says so.
  const recall = records.some((r) => r.summary.metric === "R@1");
  const header = [
    recall ? "task (R@1, %)" : "task",
    ...records.map((r) => `${r.model.name}/${r.engine.engine}`),
  ];
  const rows = taskNames.map((
    name,
  ) => [name, ...records.map((r) => fmt(r.tasks.find((t) => t.name === name)?.result?.headline))]);
  rows.push([recall ? "Average R@1" : "Average", ...records.map((r) => fmt(r.summary.mean))]);
  out(formatTable(header, rows));
  if (recall) {
    out("numbers are R@1 (Flickr30k Entities recall at rank 1, %), not AP");
  }
  for (const r of records) {
    out(
      `${r.model.name}/${r.engine.engine}: ${r.timings.imagesPerSecond.toFixed(2)} images/s, ${
        r.timings.wallSeconds.toFixed(1)
      } s, invocations ${JSON.stringify(r.invocations)}`,
    );
  }
}

async function mergeCommand(args: string[]): Promise<number> {
  const parsed = await parseCommandArgs("bench merge", args, {
    out: { type: "string" },
    "no-report": { type: "boolean" },
  });
  if (booleanFlag(parsed, "help")) {
    out(HELP);
    return 0;
  }
  const outDir = stringFlag(parsed, "out");
  if (!outDir) throw new UsageError("bench merge: --out DIR is required");
  if (parsed.positionals.length < 1) {
    throw new UsageError("bench merge: give the shard run folders to merge");
  }
  const record = await mergeShards(parsed.positionals, outDir, { warn, log: info });
  if (!booleanFlag(parsed, "no-report")) await buildReport([outDir], join(outDir, "report"));
  printResults([record], booleanFlag(parsed, "json"));
  return reportParityFailures([{ dir: outDir, record }]) ? 1 : 0;
}
