/**
 * glip-bench: GLIP benchmarks in Deno + TypeScript.
 *
 * The library behind `deno task bench`: run a benchmark (resume, shards, merge, reproduce),
 * engines and their contract, metrics identical to pycocotools and lvis-api, datasets and GLIP's
 * few-shot samplers, GLIP's prompts and tokenizer, export from checkpoints to model bundles,
 * run records and HTML reports, and the registries plugins extend.
 *
 * The same API is split by subject into the package's other entry points: `./engines`,
 * `./metrics`, `./datasets`, `./models` and `./plugin`. Training (prompt tuning, full tuning,
 * autodiff, loss graphs) and the ONNX graph builders are internals: they stay importable by path
 * but are not part of this API.
 *
 * @example Run the embedded demo benchmark and read its mean AP
 * ```ts ignore
 * import { runBenchmark } from "./mod.ts";
 *
 * const result = await runBenchmark({ suite: "odinw", demo: true, limit: 2, outDir: "runs/smoke" });
 * const { record } = result.runs[0];
 * console.log(record.summary.mean, "mean AP over", record.tasks.length, "tasks");
 * ```
 *
 * @example Prompt, model, engine, detections: the whole pipeline on the nano model
 * ```ts
 * import {
 *   buildPrompt, exportBundle, loadBertTokenizer, onnxEngineFactory, postprocessAtss,
 *   preprocessImage, presetArchitecture, RandomWeights,
 * } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const bundle = await exportBundle({
 *   architecture: presetArchitecture("nano"), configName: "nano", weights: new RandomWeights(0),
 *   outDir: dir, source: { kind: "random", seed: 0 }, forms: ["native"],
 * });
 * const prompt = buildPrompt(await loadBertTokenizer(), ["fish", "shark"]);
 * const engine = await onnxEngineFactory.create(bundle, { threads: 1 });
 * const image = { width: 224, height: 160, rgb: new Uint8Array(224 * 160 * 3).fill(128) };
 * const pre = preprocessImage(image, bundle.manifest.preprocess);
 * const head = await engine.runHead(
 *   await engine.encodeImage(pre.input),
 *   await engine.encodeText(prompt.encoding),
 * );
 * const detections = postprocessAtss(head, prompt.positiveMapLabelToToken, bundle.manifest.postprocess, {
 *   resized: pre.resizedSize, original: pre.originalSize,
 * });
 * assert.ok(detections.count <= bundle.manifest.postprocess.detectionsPerImage);
 * await engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @example Metrics identical to pycocotools
 * ```ts
 * import { evaluateCoco } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gt = {
 *   images: [{ id: 1 }],
 *   annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100 }],
 *   categories: [{ id: 1 }],
 * };
 * const result = evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 1 }]);
 * assert.ok(Math.abs(result.named.AP - 1) < 1e-9);
 * ```
 *
 * @example Engines by name, from the registry (plugins register theirs there too)
 * ```ts
 * import { engines, registerBuiltins } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * registerBuiltins();
 * const factory = await engines.get("onnx");
 * const availability = await factory.probe();
 * assert.equal(typeof availability.available, "boolean");
 * assert.ok(engines.names().includes("webgpu"));
 * ```
 *
 * @module
 */
export * from "./models/mod.ts";
export * from "./engines/mod.ts";
export * from "./benchmarks/metrics/mod.ts";
export * from "./datasets/mod.ts";
export * from "./core/plugin_api.ts";

// Benchmark runs as a library (what `deno task bench` calls): run, resume, shard, merge, reproduce.
export {
  type BenchOptions,
  type BenchResult,
  type BenchRun,
  runBenchmark,
} from "./benchmarks/bench_run.ts";
export type { Shots } from "./benchmarks/adaptation.ts";
export type { ProgressReporter, TaskProgress } from "./benchmarks/runner.ts";
export { type MergeOptions, mergeShards } from "./benchmarks/merge.ts";
export {
  KUBERNETES_COUNT_VARIABLE,
  parseShard,
  type ScheduledShard,
  type Shard,
  shardFromEnvironment,
} from "./benchmarks/shard.ts";
export {
  ENGINE_PARITY_AP_TOLERANCE,
  type ReproduceOptions,
  type ReproduceResult,
  reproduceRun,
} from "./benchmarks/reproduce.ts";
export {
  type BenchRequest,
  fingerprintDifferences,
  RUN_FINGERPRINT_SCHEMA,
  RUN_FINGERPRINT_VERSION,
  type RunFingerprint,
} from "./benchmarks/run_fingerprint.ts";
export { RunLockedError, type RunLockHolder } from "./benchmarks/run_lock.ts";

// Run records (`run.json`) and the reports built from them.
export {
  type AdaptationCell,
  type CocoSummary,
  type ComparisonContext,
  type MetricResult,
  type PromptRecord,
  readRunRecord,
  RUN_RECORD_SCHEMA,
  RUN_RECORD_VERSION,
  type RunRecord,
  type StageTiming,
  type TaskResult,
  validateRunRecord,
} from "./benchmarks/run_record.ts";
export {
  PARITY_GRAPHS,
  type ParityCheck,
  parityFailed,
  type RecordedOutput,
} from "./benchmarks/parity_record.ts";
export {
  buildSite,
  buildSiteFromRuns,
  readRuns,
  resultsCsv,
  resultsMarkdown,
  type RunFile,
  SITE_MARKER,
  type SiteOptions,
} from "./reports/site.ts";

// Errors, each with its exit code in the CLI.
export { GateError, InputError, type InputLocation, UsageError } from "./core/errors.ts";
