/**
 * Engines: the contract every backend implements ({@link Engine}, made by an
 * {@link EngineFactory}), the built-in engines (onnxruntime-node, onnxruntime-web WebGPU and
 * wasm, and `auto`, which picks the fastest that works here and records why), the conformance
 * check a plugin engine must pass, and the parity check of engines with the reference.
 *
 * Engines run only the three graphs of a model bundle; the tokenizer, preprocessing and
 * post-processing around them are shared (see `glip-bench/models`). By name, engines are reached
 * through the `engines` registry of the package's main module.
 *
 * @example Run the nano model's three graphs on onnxruntime-node
 * ```ts
 * import { onnxEngineFactory } from "./mod.ts";
 * import {
 *   buildPrompt, exportBundle, loadBertTokenizer, postprocessAtss, preprocessImage,
 *   presetArchitecture, RandomWeights,
 * } from "../models/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const bundle = await exportBundle({
 *   architecture: presetArchitecture("nano"), configName: "nano", weights: new RandomWeights(0),
 *   outDir: dir, source: { kind: "random", seed: 0 }, forms: ["native"],
 * });
 * const engine = await onnxEngineFactory.create(bundle, { threads: 1 });
 * try {
 *   const prompt = buildPrompt(await loadBertTokenizer(), ["fish", "shark"]);
 *   const image = { width: 224, height: 160, rgb: new Uint8Array(224 * 160 * 3).fill(128) };
 *   const pre = preprocessImage(image, bundle.manifest.preprocess);
 *   const imageFeatures = await engine.encodeImage(pre.input);
 *   const textFeatures = await engine.encodeText(prompt.encoding);
 *   const head = await engine.runHead(imageFeatures, textFeatures);
 *   imageFeatures.dispose();
 *   textFeatures.dispose();
 *   const detections = postprocessAtss(head, prompt.positiveMapLabelToToken, bundle.manifest.postprocess, {
 *     resized: pre.resizedSize, original: pre.originalSize,
 *   });
 *   assert.ok(detections.count <= bundle.manifest.postprocess.detectionsPerImage);
 *   assert.equal(engine.describe().engine, "onnx");
 * } finally {
 *   await engine.dispose();
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @module
 */
export {
  type CandidateFilter,
  type Dtype,
  type Engine,
  type EngineAvailability,
  type EngineCapabilities,
  type EngineDescription,
  type EngineFactory,
  type EngineOptions,
  type FeatureHandle,
  type HeadLevelOutput,
  type HeadOptions,
  type HeadOutput,
  type ImageInput,
  type LevelCandidates,
  MissingCapabilityError,
  type TextInput,
} from "./engine.ts";
export {
  ONNX_MEMORY_PROFILES,
  type OnnxEngineFactory,
  onnxEngineFactory,
  type OnnxEngineOptions,
  type OnnxGraph,
  type OnnxGraphMemory,
  type OnnxMemoryProfile,
  type OnnxMemorySettings,
  providerLibraries,
} from "./onnx_node/engine.ts";
export {
  CpuFallbackError,
  type OrtWebEngineOptions,
  wasmEngineFactory,
  webgpuEngineFactory,
} from "./ort_web/engine.ts";
export { OpSizeError, VERIFIED_PAST_BINDING_LIMIT } from "./ort_web/op_size_audit.ts";
export { autoEngineFactory } from "./auto.ts";
export { checkConformance, conformanceImage, type ConformanceReport } from "./conformance.ts";
export {
  checkEngineParity,
  type EngineParity,
  FP16_TOLERANCE,
  FP32_TOLERANCE,
  largestInputSize,
  type OutputComparison,
  type ParityOptions,
  type ParityResult,
  type Tolerance,
} from "./parity.ts";
