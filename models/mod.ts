/**
 * GLIP in TypeScript: architectures, export, checkpoints, text, images and post-processing.
 * @module
 */
export * from "./bundle.ts";
export {
  architectureFromGlipYaml,
  type GlipArchitecture,
  presetArchitecture,
  PRESETS,
} from "./glip/config.ts";
export { exportBundle, type ExportOptions } from "./glip/export.ts";
export { buildHeadGraph, buildImageGraph, buildTextGraph } from "./glip/graphs.ts";
export { CheckpointWeights, RandomWeights, type WeightSource } from "./glip/weights.ts";
export { readCheckpoint } from "./checkpoint/mod.ts";
export { BertTokenizer, type Encoding, loadBertTokenizer } from "./text/tokenizer.ts";
export {
  buildCaptionPrompt,
  buildChunkedPrompts,
  buildPrompt,
  cleanName,
  type PromptChunk,
} from "./text/prompt.ts";
export { decodeImage, type RgbImage } from "./image/decode.ts";
export { glipResizeSize, resizeBilinearPil } from "./image/resize.ts";
export { type PreprocessedImage, preprocessImage } from "./image/preprocess.ts";
export { convertBox, type Detections, postprocessAtss } from "./post/atss.ts";
export { readNpy, readNpyFile, writeNpy, writeNpyFile } from "./npy.ts";
export { compareWithReference, traceBundle } from "./trace.ts";
export { appendGradients, GradientError } from "./autodiff/backward.ts";
export { bundleWeights, writeTunedBundle } from "./glip/bundle_weights.ts";
export { atssTargets, decodeBox, encodeBox, type ImageTargets } from "./train/targets.ts";
export { detectionLoss, giouLossTerms } from "./train/detection_loss.ts";
export { GLIP_FOCAL, tokenSigmoidFocalLoss } from "./train/focal_loss.ts";
export { buildPromptTuningStep, buildTrainStep } from "./train/prompt_tuning_graph.ts";
export { AdamW, clipGradNorm, EarlyStopping, PlateauScheduler } from "./train/optim.ts";
export {
  glipPromptTuningSettings,
  type PromptTuningSettings,
  tunePrompt,
} from "./train/prompt_tuner.ts";
export { glipFullTuningSettings, tuneFullModel } from "./train/full_tuner.ts";
