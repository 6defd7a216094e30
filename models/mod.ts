/**
 * GLIP in TypeScript: model bundles and their export from checkpoints, GLIP's prompts and
 * tokenizer, image decoding and preprocessing, and ATSS post-processing. Every engine shares
 * these; engines only run the three graphs of a bundle.
 *
 * Training (prompt tuning, full tuning, autodiff, loss graphs) and the ONNX graph builders stay
 * importable by path (`models/train/`, `models/autodiff/`, `models/glip/graphs.ts`) but are not
 * part of this API.
 *
 * @example Export a randomly initialised nano bundle, then open it again (verified by sha256)
 * ```ts
 * import { exportBundle, loadBundle, presetArchitecture, RandomWeights } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await exportBundle({
 *     architecture: presetArchitecture("nano"), configName: "nano", weights: new RandomWeights(0),
 *     outDir: dir, source: { kind: "random", seed: 0 }, forms: ["native"],
 *   });
 *   const bundle = await loadBundle(dir);
 *   assert.equal(bundle.manifest.configName, "nano");
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @example GLIP's prompt for two category names
 * ```ts
 * import { buildPrompt, loadBertTokenizer } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const prompt = buildPrompt(await loadBertTokenizer(), ["fish", "shark"]);
 * assert.equal(prompt.query, "fish. shark");
 * // label 2 ("shark") is token 3: [CLS] fish . shark
 * assert.deepEqual(prompt.positiveMapLabelToToken.get(2), [3]);
 * ```
 *
 * @module
 */
export {
  bundleDigest,
  type BundleManifest,
  checkedBundleFile,
  type CheckedGraph,
  checkedGraphFiles,
  type DeformConvForm,
  GRAPH_IO,
  type GraphFile,
  type GraphIo,
  type GraphName,
  loadBundle,
  type ModelBundle,
  type PostprocessSettings,
  type PreprocessSettings,
  type VerificationReport,
  verifyBundle,
  type VerifyOptions,
} from "./bundle.ts";
export {
  architectureFromGlipYaml,
  type GlipArchitecture,
  presetArchitecture,
  PRESETS,
} from "./glip/config.ts";
export { exportBundle, type ExportOptions } from "./glip/export.ts";
export {
  CheckpointWeights,
  RandomWeights,
  WeightError,
  type WeightSource,
} from "./glip/weights.ts";
export {
  type Checkpoint,
  type CheckpointTensor,
  readCheckpoint,
  type TensorDtype,
} from "./checkpoint/mod.ts";
export {
  BertTokenizer,
  type EncodeOptions,
  type Encoding,
  loadBertTokenizer,
} from "./text/tokenizer.ts";
export {
  buildCaptionPrompt,
  buildChunkedPrompts,
  buildPrompt,
  type CaptionPrompt,
  cleanName,
  type PromptChunk,
  type PromptOptions,
} from "./text/prompt.ts";
export { decodeImage, type DecodeOptions, type RgbImage } from "./image/decode.ts";
export { glipResizeSize, resizeBilinearPil } from "./image/resize.ts";
export { type PreprocessedImage, preprocessImage } from "./image/preprocess.ts";
export {
  type BoxConvention,
  convertBox,
  type Detections,
  type DetectionSizes,
  postprocessAtss,
} from "./post/atss.ts";
