/**
 * `deno task bench --reproduce RUN/run.json`: runs again exactly what a run record says it ran
 * (its fingerprint's request: bundle, tasks, settings, engine) into a new folder, then compares.
 * On CPU engines (onnxruntime-node CPU, wasm) every detections file must be byte-identical and
 * every metric equal; on GPU engines every metric must be within the engine-parity tolerance
 * (`tests/benchmarks/engine_parity_test.ts`: 0.001 AP per task). Anything else is reported as a
 * difference, and the CLI exits 3.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, normalize, resolve } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { type BenchRun, runBenchmark } from "./bench_run.ts";
import { claimNewRunDir } from "./run_folder.ts";
import { fingerprintDifferences } from "./run_fingerprint.ts";
import { readRunRecord, type RunRecord } from "./run_record.ts";
import { parseShard } from "./shard.ts";
import type { ProgressReporter } from "./runner.ts";

/** The largest per-metric difference accepted from a GPU engine (AP, as a fraction). */
export const ENGINE_PARITY_AP_TOLERANCE = 0.001;

/** Execution providers whose results are bit-exact from run to run. */
const EXACT_PROVIDERS = new Set(["cpu", "wasm"]);

/** Options of {@link reproduceRun}. */
export interface ReproduceOptions {
  /** Where the new run goes. @default a new `<record folder>-reproduce[-n]` beside it */
  outDir?: string;
  /** Progress lines. @default none */
  log?: (line: string) => void;
  /** Warnings. @default `console.error` */
  warn?: (line: string) => void;
  /** Per-task progress of the rerun. @default none */
  progress?: ProgressReporter;
}

/** What a reproduction found. */
export interface ReproduceResult {
  /** The record reproduced. */
  recordPath: string;
  /** "exact" (CPU engines) or "tolerance" (GPU engines, {@link ENGINE_PARITY_AP_TOLERANCE}). */
  mode: "exact" | "tolerance";
  /** The new run. */
  run: BenchRun;
  /** Every difference found; empty when the record was reproduced. */
  differences: string[];
  /** Whether every detections file and metric matched. */
  reproduced: boolean;
}

/** A record's detections file, which must lie inside the record's folder. */
function detectionsPathIn(
  dir: string,
  file: string | undefined,
  recordPath: string,
  field: string,
) {
  if (!file || isAbsolute(file) || normalize(file).startsWith("..")) {
    throw new InputError("expected a path inside the run folder", {
      file: recordPath,
      field,
      value: file,
    });
  }
  return join(dir, file);
}

/** The first line where two texts differ (1-based), for messages. */
function firstDifferentLine(a: string, b: string): number {
  const left = a.split("\n");
  const right = b.split("\n");
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) return i + 1;
  }
  return 0;
}

function compareMetrics(
  name: string,
  stored: RunRecord["tasks"][number]["result"],
  fresh: RunRecord["tasks"][number]["result"],
  exact: boolean,
): string[] {
  if (!stored || !fresh) {
    return stored === fresh
      ? []
      : [`${name}: result ${stored ? "absent" : "present"} in the rerun`];
  }
  const differences: string[] = [];
  const numbers = new Map<string, [number, number]>([
    ["headline", [stored.headline, fresh.headline]],
  ]);
  for (const key of new Set([...Object.keys(stored.named), ...Object.keys(fresh.named)])) {
    numbers.set(`named.${key}`, [stored.named[key], fresh.named[key]]);
  }
  for (const [key, [a, b]] of numbers) {
    const same = exact ? a === b : Math.abs(a - b) <= ENGINE_PARITY_AP_TOLERANCE;
    if (!same) differences.push(`${name}: ${key} recorded ${a}, rerun ${b}`);
  }
  if (exact && differences.length === 0 && JSON.stringify(stored) !== JSON.stringify(fresh)) {
    differences.push(`${name}: per-category numbers or curves differ`);
  }
  return differences;
}

/**
 * Runs the record at `recordPath` again and compares. Throws {@link InputError} for a record
 * without a fingerprint (it does not say what produced it) and {@link UsageError} for protocols
 * it cannot rerun; returns the differences otherwise (the CLI turns them into exit 3).
 *
 * @example Rerun a finished run and compare
 * ```ts ignore
 * import { reproduceRun } from "./reproduce.ts";
 * const result = await reproduceRun("runs/smoke/run.json");
 * if (!result.reproduced) console.error(result.differences.join("\n"));
 * ```
 */
export async function reproduceRun(
  recordPath: string,
  options: ReproduceOptions = {},
): Promise<ReproduceResult> {
  const record = await readRunRecord(recordPath);
  const fingerprint = record.fingerprint;
  if (!fingerprint) {
    throw new InputError(
      "the record does not say what produced it (no fingerprint: written by an older glip-bench, or by merging shards); it cannot be reproduced",
      { file: recordPath, field: "fingerprint" },
    );
  }
  if (fingerprint.protocol !== "zero-shot") {
    throw new UsageError(
      `bench --reproduce: reruns zero-shot records; ${recordPath} is a ${fingerprint.protocol} run`,
    );
  }
  const recordDir = dirname(resolve(recordPath));
  // the record's own files are checked before anything runs: they must lie in its folder
  const storedFiles = new Map(
    record.tasks.map((task, t) => [
      task.name,
      detectionsPathIn(recordDir, task.detectionsFile, recordPath, `tasks[${t}].detectionsFile`),
    ]),
  );
  const request = fingerprint.request;
  const outDir = options.outDir ??
    await claimNewRunDir(join(dirname(recordDir), `${basename(recordDir)}-reproduce`));
  const result = await runBenchmark({
    suite: request.suite,
    protocol: request.protocol,
    engines: [request.engine],
    models: request.model ? [request.model] : undefined,
    modelConfig: request.modelConfig,
    tasks: request.tasks,
    set: request.set,
    prompt: request.prompt,
    split: request.split,
    dataRoot: request.dataRoot,
    demo: request.demo,
    limit: request.limit,
    shard: request.shard ? parseShard(request.shard) : undefined,
    threads: request.threads,
    dtype: request.dtype === "fp16" ? "fp16" : "fp32",
    allowCpuFallback: request.allowCpuFallback,
    outDir,
    command: ["deno", "task", "bench", "--reproduce", recordPath],
    log: options.log,
    warn: options.warn,
    progress: options.progress,
  });
  const run = result.runs[0];
  const exact = EXACT_PROVIDERS.has(fingerprint.engine.executionProvider);
  const differences = fingerprintDifferences(fingerprint, run.record.fingerprint ?? {}).map((d) =>
    `fingerprint: ${d}`
  );
  for (const task of record.tasks) {
    const fresh = run.record.tasks.find((other) => other.name === task.name);
    if (!fresh) {
      differences.push(`${task.name}: not in the rerun`);
      continue;
    }
    differences.push(...compareMetrics(task.name, task.result, fresh.result, exact));
    if (!exact) continue;
    const storedFile = storedFiles.get(task.name)!;
    const freshFile = join(run.dir, fresh.detectionsFile!);
    let stored: string;
    try {
      stored = await Deno.readTextFile(storedFile);
    } catch (error) {
      differences.push(`${storedFile}: cannot be read (${(error as Error).message})`);
      continue;
    }
    const rerun = await Deno.readTextFile(freshFile);
    if (stored !== rerun) {
      differences.push(
        `${storedFile}: differs from the rerun's ${freshFile} from line ${
          firstDifferentLine(stored, rerun)
        }`,
      );
    }
  }
  if (record.tasks.length !== run.record.tasks.length) {
    differences.push(
      `tasks: recorded ${record.tasks.length}, rerun ${run.record.tasks.length}`,
    );
  }
  const meanSame = exact
    ? record.summary.mean === run.record.summary.mean
    : Math.abs(record.summary.mean - run.record.summary.mean) <= ENGINE_PARITY_AP_TOLERANCE;
  if (!meanSame) {
    differences.push(
      `summary.mean: recorded ${record.summary.mean}, rerun ${run.record.summary.mean}`,
    );
  }
  return {
    recordPath,
    mode: exact ? "exact" : "tolerance",
    run,
    differences,
    reproduced: differences.length === 0,
  };
}
