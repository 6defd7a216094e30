/**
 * The run record: the versioned JSON a benchmark run writes (`run.json`) and reports read.
 * Every field that decides a number is in it: prompts and their hashes, thresholds, splits,
 * engine and model provenance, seeds, timings and per-stage invocation counts.
 *
 * {@link validateRunRecord} checks a parsed file against the schema and names the first bad
 * field, so a report never renders from a malformed or future-version record.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { parseJsonText } from "../core/json.ts";
import type { EngineDescription } from "../engines/engine.ts";
import { type RunFingerprint, validateFingerprint } from "./run_fingerprint.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";
import { type ParityCheck, validateParityChecks } from "./parity_record.ts";

/** The schema identifier and version written into every record. */
export const RUN_RECORD_SCHEMA = "glip-bench/run-record" as const;
/** Current schema version. Readers refuse newer versions. */
export const RUN_RECORD_VERSION = 1 as const;

/** The 12 COCO summary numbers by name (pycocotools order). */
export interface CocoSummary {
  /** Mean AP over IoU 0.5:0.95. */
  AP: number;
  /** AP at IoU 0.5. */
  AP50: number;
  /** AP at IoU 0.75. */
  AP75: number;
  /** AP of small objects (area < 32²). */
  APs: number;
  /** AP of medium objects (32² to 96²). */
  APm: number;
  /** AP of large objects (area > 96²). */
  APl: number;
  /** Recall with 1 detection per image. */
  AR1: number;
  /** Recall with 10 detections per image. */
  AR10: number;
  /** Recall with 100 detections per image. */
  AR100: number;
  /** Recall of small objects (100 detections). */
  ARs: number;
  /** Recall of medium objects (100 detections). */
  ARm: number;
  /** Recall of large objects (100 detections). */
  ARl: number;
}

/** Metric results of one evaluation (one task, one split, one adaptation cell). */
export interface MetricResult {
  /** Which evaluator produced it. */
  metric: "coco" | "lvis" | "flickr30k";
  /** The headline number: COCO/LVIS AP, or Flickr R@1. -1 when undefined. */
  headline: number;
  /** Named summary numbers (COCO's 12, LVIS's AP..APf/AR@k, Flickr's R@k). */
  named: Record<string, number>;
  /** Per-category numbers (COCO/LVIS), keyed by category id. */
  perCategory?: Record<string, Record<string, number>>;
  /** Precision-recall curves at IoU 0.5 and averaged over 0.5:0.95 (area all, 100 dets), 101 points. */
  prCurves?: { iou50: number[]; iou50to95: number[] };
  /** Recall by phrase type (Flickr30K). */
  byType?: Record<string, Record<string, number>>;
}

/** One prompt chunk as it was sent to the model. */
export interface PromptRecord {
  /** The exact query string. */
  query: string;
  /** sha256 of the query and its label-to-token map. */
  hash: string;
  /** Labels of this chunk, in order. */
  labels: number[];
  /** Labels whose names mapped to no token: left out of the positive map, never detected (as GLIP). */
  droppedLabels: number[];
}

/** One adaptation cell (few-shot / prompt tuning): shots x seed. */
export interface AdaptationCell {
  /** Shots per category (k), or "all" for full-data tuning. */
  shots: number | "all";
  /** The sampling (and training) seed. */
  seed: number;
  /** The checkpoint or prompt offset evaluated, and its sha256. */
  checkpoint?: { path: string; sha256: string };
  /** Best validation AP used for model selection. */
  valAP?: number;
  /** The result on the test split. */
  test: MetricResult;
  /** Training curve, where the trainer recorded one. */
  history?: { step: number; loss?: number; valAP?: number }[];
  /**
   * Native trainer: the memory budget of its train graphs (bytes) and each graph's plan: the
   * segments it ran in (1: the plain graph) and the planned peak in bytes.
   */
  memory?: {
    budgetBytes: number;
    plans: { graph: string; segments: number; plannedPeakBytes: number }[];
  };
}

/** Results of one task (an ODinW dataset, COCO val2017, LVIS minival, a Flickr split). */
export interface TaskResult {
  /** Task name (`Aquarium`, `val2017`). */
  name: string;
  /** Dataset name in the datasets registry. */
  dataset: string;
  /** The split evaluated. */
  split: string;
  /** Images evaluated. */
  images: number;
  /** Ground-truth annotations of those images. */
  annotations: number;
  /** Categories of the task. */
  categories: { id: number; name: string }[];
  /** The prompts sent to the model. */
  prompts: PromptRecord[];
  /** Zero-shot result (absent for adaptation-only records). */
  result?: MetricResult;
  /** Few-shot / prompt-tuning cells. */
  cells?: AdaptationCell[];
  /** COCO-format detections file, relative to the run folder. */
  detectionsFile?: string;
  /** Dataset card facts shown in reports. */
  card?: { summary: string; quirks?: string[] };
}

/** Latency statistics of one stage, in milliseconds. */
export interface StageTiming {
  /** How many times the stage ran. */
  count: number;
  /** Total time. */
  totalMs: number;
  /** Median time of one run. */
  p50Ms: number;
  /** 90th percentile of one run. */
  p90Ms: number;
}

/**
 * What a run record carries for the comparison with published numbers (reports/comparison.ts):
 * which released checkpoint the model came from, or which published model the user says it is.
 * Records without it are read too (their checkpoint is then recognised by sha256 only).
 */
export interface ComparisonContext {
  /**
   * The file name of the checkpoint the bundle was exported from (the bundle manifest's
   * `source.file`), e.g. `glip_tiny_model_o365_goldg_cc_sbu.pth`.
   */
  checkpointFile?: string;
  /** `bench --reference KEY`: the published model the user says this checkpoint is. */
  reference?: string;
}

/** A complete run record. */
export interface RunRecord {
  /** Always {@link RUN_RECORD_SCHEMA}. */
  schema: typeof RUN_RECORD_SCHEMA;
  /** The schema version ({@link RUN_RECORD_VERSION}). */
  version: typeof RUN_RECORD_VERSION;
  /** Unique id: suite, model, engine, timestamp. */
  id: string;
  /** When the record was written (ISO 8601). */
  createdAt: string;
  /** The suite that ran (`odinw`, `coco`, `lvis`, `flickr30k`). */
  suite: string;
  /** The protocol that ran (`zero-shot`, `few-shot`, `prompt-tuning`, `linear-probe`). */
  protocol: string;
  /** Settings that decide the numbers. */
  settings: {
    split: string;
    promptVariant?: string;
    chunkSize?: number;
    postprocess: Record<string, unknown>;
    preprocess: Record<string, unknown>;
    /** Only part of the images were run (smoke run); the numbers are not comparable. */
    limit?: number;
    /** Shard "i/n" when this record covers a slice of the images. */
    shard?: string;
    shots?: (number | "all")[];
    seeds?: number[];
    /**
     * Adapting runs with a trainer: where the k-shot images came from (`sampled` by GLIP's
     * sampler, or GLIP's `prepared` fewshot_*_shot{k}_seed{s}.json files).
     */
    fewShotSource?: "sampled" | "prepared";
    /**
     * `--max-image-pixels` (or `$GLIP_BENCH_MAX_IMAGE_PIXELS`) when not PIL's default; `"none"`:
     * no limit. It decides which images are refused, not the numbers.
     */
    maxImagePixels?: number | "none";
    /** Where this run knowingly differs from GLIP's own settings, in words. */
    deliberateDifferences: string[];
  };
  /**
   * The model: its label, config, the sha256 of its bundle and checkpoint, and whether it is the
   * demo model.
   */
  model: {
    name: string;
    configName: string;
    bundleSha256: string;
    checkpointSha256?: string;
    demo: boolean;
  };
  /** The engine as it described itself (`Engine.describe()`): name, provider, device, dtype. */
  engine: EngineDescription;
  /** Where and how the run ran: suite version, git commit, Deno, machine, data and command line. */
  provenance: {
    suiteVersion: string;
    gitCommit?: string;
    deno: string;
    machine: { os: string; arch: string; cpus: number; memoryBytes: number; hostname?: string };
    dataRoot: string;
    /** sha256 over the annotation files used. */
    dataHash: string;
    /** Exact command line. */
    command: string[];
  };
  /** Results per task. */
  tasks: TaskResult[];
  /** Mean of the tasks' headline numbers (undefined cells excluded). */
  summary: {
    mean: number;
    metric: string;
    tasks: number;
    byShots?: Record<string, { mean: number; std: number }>;
  };
  /** Wall time, throughput, peak memory and per-stage latency, summed over the run's segments. */
  timings: {
    wallSeconds: number;
    imagesPerSecond: number;
    peakRssBytes: number;
    stages: Record<string, StageTiming>;
    /** How many segments (a first run and each resume that stored images) the timings sum. */
    segments?: number;
  };
  /** Invocations per stage (text encoder, image backbone, head, post-processing). */
  invocations: Record<string, number>;
  /** The task definitions as run (paths, prompts, conventions), for re-scoring and merging. */
  taskSpecs?: Record<string, unknown>[];
  /** What produced the results (the run folder's fingerprint.json); `--reproduce` reruns it. */
  fingerprint?: RunFingerprint;
  /** What the comparison with published numbers needs beyond the other fields. */
  comparison?: ComparisonContext;
  /**
   * Full-size parity checks of the run's engine against onnxruntime-node CPU
   * (`bench --check-parity`): one per check, kept across resumed segments and merged shards.
   * Absent: never checked.
   */
  engineParity?: ParityCheck[];
}

function fail(file: string, field: string, problem: string, value?: unknown): never {
  throw new InputError(problem, { file, field, ...(arguments.length > 3 ? { value } : {}) });
}

function expectType(file: string, field: string, value: unknown, type: string): void {
  const actual = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  if (actual !== type) fail(file, field, `expected ${type}, found ${actual}`, value);
}

function validateMetric(file: string, field: string, value: unknown): void {
  expectType(file, field, value, "object");
  const metric = value as MetricResult;
  if (!["coco", "lvis", "flickr30k"].includes(metric.metric)) {
    fail(file, `${field}.metric`, "expected coco, lvis or flickr30k", metric.metric);
  }
  expectType(file, `${field}.headline`, metric.headline, "number");
  expectType(file, `${field}.named`, metric.named, "object");
}

/**
 * Checks that `data` is a run record of a version this code reads; returns it typed. Throws an
 * {@link InputError} naming `file` and the first bad field.
 */
export function validateRunRecord(data: unknown, file: string): RunRecord {
  expectType(file, "(root)", data, "object");
  const record = data as RunRecord;
  if (record.schema !== RUN_RECORD_SCHEMA) {
    fail(file, "schema", `not a run record (expected "${RUN_RECORD_SCHEMA}")`, record.schema);
  }
  if (typeof record.version !== "number" || record.version > RUN_RECORD_VERSION) {
    fail(
      file,
      "version",
      `unsupported version; this glip-bench reads up to ${RUN_RECORD_VERSION}`,
      record.version,
    );
  }
  for (const key of ["id", "createdAt", "suite", "protocol"] as const) {
    expectType(file, key, record[key], "string");
  }
  for (
    const key of [
      "settings",
      "model",
      "engine",
      "provenance",
      "summary",
      "timings",
      "invocations",
    ] as const
  ) {
    expectType(file, key, record[key], "object");
  }
  for (const key of ["engine", "executionProvider", "dtype"] as const) {
    expectType(file, `engine.${key}`, record.engine[key], "string");
  }
  expectType(
    file,
    "settings.deliberateDifferences",
    record.settings.deliberateDifferences,
    "array",
  );
  const pixels = record.settings.maxImagePixels;
  if (pixels !== undefined && pixels !== "none" && !(Number.isSafeInteger(pixels) && pixels > 0)) {
    fail(file, "settings.maxImagePixels", 'expected a positive whole number or "none"', pixels);
  }
  expectType(file, "tasks", record.tasks, "array");
  record.tasks.forEach((task, i) => {
    const field = `tasks[${i}]`;
    expectType(file, field, task, "object");
    expectType(file, `${field}.name`, task.name, "string");
    expectType(file, `${field}.prompts`, task.prompts, "array");
    if (task.result !== undefined) validateMetric(file, `${field}.result`, task.result);
    (task.cells ?? []).forEach((cell, j) =>
      validateMetric(file, `${field}.cells[${j}].test`, cell.test)
    );
  });
  expectType(file, "summary.mean", record.summary.mean, "number");
  if (record.fingerprint !== undefined) {
    validateFingerprint(record.fingerprint, `${file}: fingerprint`);
  }
  if (record.engineParity !== undefined) {
    validateParityChecks(record.engineParity, file, record.engine);
  }
  return record;
}

/** Reads and validates a run record file. */
export async function readRunRecord(path: string): Promise<RunRecord> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new InputError(`cannot read the run record (${(error as Error).message})`, {
      file: path,
    });
  }
  return validateRunRecord(parseJsonText(text, path), path);
}

/** Writes a run record atomically (temp file, then rename). */
export async function writeRunRecord(path: string, record: RunRecord): Promise<void> {
  validateRunRecord(record, path);
  await writeFileAtomic(path, JSON.stringify(record, null, 2) + "\n");
}

/**
 * Mean and standard deviation over seeds. The deviation is the population one (numpy's
 * `np.std` default, ddof 0); GLIP's paper does not say which it used.
 *
 * @example
 * ```ts
 * import { meanAndStd } from "./run_record.ts";
 * const { mean, std } = meanAndStd([1, 2, 3]);
 * console.assert(mean === 2 && Math.abs(std - Math.sqrt(2 / 3)) < 1e-12);
 * ```
 */
export function meanAndStd(values: number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: -1, std: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}
