/**
 * Run records built in memory for report tests, without running a benchmark: each test states
 * the suite, tasks, splits, prompt, protocol, checkpoint and results it needs. The numbers are
 * fixtures for the comparison rules and the pages, not results.
 */
import {
  type MetricResult,
  RUN_RECORD_SCHEMA,
  RUN_RECORD_VERSION,
  type RunRecord,
  type TaskResult,
} from "../../benchmarks/run_record.ts";
import { odinwTasks } from "../../datasets/odinw.ts";
import type { ComparisonContext } from "../../reports/comparison.ts";

/** The 13 ODinW-13 task names. */
export const ODINW13 = odinwTasks("odinw13").map((t) => t.name);

/** A metric result with the given headline (0..1). */
export function metric(kind: MetricResult["metric"], headline: number): MetricResult {
  const named: Record<string, number> = kind === "flickr30k"
    ? { "R@1": headline, "R@5": headline + 0.05, "R@10": headline + 0.07, "R@UB": 0.9 }
    : kind === "lvis"
    ? {
      AP: headline,
      AP50: headline,
      AP75: headline,
      APr: headline - 0.05,
      APc: headline,
      APf: headline + 0.05,
    }
    : { AP: headline, AP50: headline + 0.1, AP75: headline, APs: -1, APm: headline, APl: headline };
  return { metric: kind, headline, named };
}

/** What a test record is made of. */
export interface RecordOptions {
  suite?: string;
  protocol?: string;
  /** Task name -> split; default: the ODinW-13 tasks on their zero-shot splits. */
  tasks?: Record<string, string>;
  /** Zero-shot headline of every task (0..1). */
  value?: number;
  prompt?: string;
  /** The record's optional `comparison` field. */
  comparison?: ComparisonContext;
  checkpointSha256?: string;
  configName?: string;
  demo?: boolean;
  limit?: number;
  shard?: string;
  /** Adaptation cells: shots -> seeds, each scored `value + 0.01 * shots-index`. */
  cells?: Record<string, number[]>;
  modelName?: string;
  engine?: string;
  /** Overrides applied last, for hostile field values. */
  patch?: (record: RunRecord) => void;
}

/** A complete, valid run record. */
export function makeRecord(options: RecordOptions = {}): RunRecord {
  const suite = options.suite ?? "odinw";
  const kind: MetricResult["metric"] = suite === "flickr30k"
    ? "flickr30k"
    : suite === "lvis"
    ? "lvis"
    : "coco";
  const taskSplits = options.tasks ??
    Object.fromEntries(odinwTasks("odinw13").map((t) => [t.name, t.zeroShotSplit]));
  const value = options.value ?? 0.5;
  const tasks: TaskResult[] = Object.entries(taskSplits).map(([name, split]) => ({
    name,
    dataset: suite === "odinw" ? "odinw" : suite,
    split,
    images: 10,
    annotations: 20,
    categories: [{ id: 1, name: "thing" }],
    prompts: [{ query: "thing", hash: "ab".repeat(32), labels: [1], droppedLabels: [] }],
    result: metric(kind, value),
    ...(options.cells
      ? {
        cells: Object.entries(options.cells).flatMap(([shots, seeds], k) =>
          seeds.map((seed) => ({
            shots: shots === "all" ? "all" as const : Number(shots),
            seed,
            test: metric(kind, value + 0.01 * (k + 1)),
          }))
        ),
      }
      : {}),
  }));
  const byShots = options.cells
    ? Object.fromEntries(
      Object.keys(options.cells).map((
        shots,
        k,
      ) => [shots, { mean: value + 0.01 * (k + 1), std: 0 }]),
    )
    : undefined;
  const record: RunRecord & { comparison?: ComparisonContext } = {
    schema: RUN_RECORD_SCHEMA,
    version: RUN_RECORD_VERSION,
    id: `${suite}-test-${options.engine ?? "onnx"}`,
    createdAt: "2026-12-01T12:00:00.000Z",
    suite,
    protocol: options.protocol ?? "zero-shot",
    settings: {
      split: tasks.map((t) => `${t.name}:${t.split}`).join(", "),
      promptVariant: options.prompt ?? "raw",
      postprocess: {},
      preprocess: {},
      ...(options.limit ? { limit: options.limit } : {}),
      ...(options.shard ? { shard: options.shard } : {}),
      deliberateDifferences: [],
    },
    model: {
      name: options.modelName ?? "model",
      configName: options.configName ?? "glip-t",
      bundleSha256: "cd".repeat(32),
      ...(options.checkpointSha256 ? { checkpointSha256: options.checkpointSha256 } : {}),
      demo: options.demo ?? false,
    },
    engine: {
      engine: options.engine ?? "onnx",
      executionProvider: "cpu",
      device: "cpu",
      dtype: "fp32",
      libraries: {},
      deformConv: "native",
    },
    provenance: {
      suiteVersion: "test",
      deno: "2",
      machine: { os: "linux", arch: "x86_64", cpus: 2, memoryBytes: 2 ** 33 },
      dataRoot: "/data",
      dataHash: "ef".repeat(32),
      command: ["deno", "task", "bench"],
    },
    tasks,
    summary: {
      mean: byShots ? Object.values(byShots).at(-1)!.mean : value,
      metric: kind === "flickr30k" ? "R@1" : "AP",
      tasks: tasks.length,
      ...(byShots ? { byShots } : {}),
    },
    timings: {
      wallSeconds: 10,
      imagesPerSecond: 2,
      peakRssBytes: 2 ** 28,
      stages: { image: { count: 10, totalMs: 100, p50Ms: 10, p90Ms: 12 } },
    },
    invocations: { image: 10 },
    ...(options.comparison ? { comparison: options.comparison } : {}),
  };
  options.patch?.(record);
  return record;
}

/** The record of a real-data run of a released checkpoint, by its official file name. */
export function releasedRun(file: string, options: RecordOptions = {}): RunRecord {
  return makeRecord({
    ...options,
    comparison: { checkpointFile: `/models/${file}`, ...options.comparison },
  });
}
