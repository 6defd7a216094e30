/**
 * glip-bench: GLIP benchmarks in Deno + TypeScript.
 *
 * The library behind `deno task bench`: GLIP's prompts and post-processing, the model exported
 * from official checkpoints, engines, metrics identical to pycocotools, and run records.
 *
 * @example Prompt, model, engine, detections: the whole pipeline on the nano model
 * ```ts
 * import {
 *   buildPrompt, exportBundle, loadBertTokenizer, onnxEngineFactory, postprocessAtss,
 *   preprocessImage, presetArchitecture, RandomWeights,
 * } from "./mod.ts";
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
 * console.assert(detections.count <= 100);
 * await engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @example Metrics identical to pycocotools
 * ```ts
 * import { evaluateCoco } from "./mod.ts";
 * const gt = {
 *   images: [{ id: 1 }],
 *   annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100 }],
 *   categories: [{ id: 1 }],
 * };
 * const result = evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 1 }]);
 * console.assert(Math.abs(result.named.AP - 1) < 1e-9);
 * ```
 *
 * @module
 */
export * from "./models/mod.ts";
export * from "./engines/mod.ts";
export * from "./benchmarks/metrics/mod.ts";
export * from "./datasets/mod.ts";
export { readRunRecord, type RunRecord, validateRunRecord } from "./benchmarks/run_record.ts";
export { engines, protocols, registerBuiltins, suites } from "./core/registries.ts";
export { loadPlugin, type PluginApi } from "./core/plugin_api.ts";
export { GateError, InputError, UsageError } from "./core/errors.ts";
// Benchmark runs as a library (what `deno task bench` calls): run, resume, shard, merge, reproduce.
export {
  type BenchOptions,
  type BenchResult,
  type BenchRun,
  runBenchmark,
} from "./benchmarks/bench_run.ts";
export { mergeShards } from "./benchmarks/merge.ts";
export { parseShard, type Shard } from "./benchmarks/shard.ts";
export {
  ENGINE_PARITY_AP_TOLERANCE,
  type ReproduceOptions,
  type ReproduceResult,
  reproduceRun,
} from "./benchmarks/reproduce.ts";
export {
  type BenchRequest,
  fingerprintDifferences,
  type RunFingerprint,
} from "./benchmarks/run_fingerprint.ts";
export { RunLockedError } from "./benchmarks/run_lock.ts";
