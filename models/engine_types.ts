/**
 * The data types that pass between the model code (preprocessing, post-processing) and the
 * engines: a preprocessed image, head outputs, and the candidate filter of device reduction.
 * They live here, below both, so `models/` never imports from `engines/`;
 * `engines/engine.ts` re-exports them as part of the engine contract.
 *
 * @module
 */

/** One preprocessed image: CHW float32, normalized, zero-padded to the size divisibility. */
export interface ImageInput {
  data: Float32Array;
  height: number;
  width: number;
}

/** Head outputs for one FPN level, on the host. */
export interface HeadLevelOutput {
  height: number;
  width: number;
  /** [4, H, W] after the per-level scale. */
  bboxRegression: Float32Array;
  /** [H * W] centerness logits. */
  centerness: Float32Array;
  /** [H * W, T] token logits, T = max query length (absent when reduced on the device). */
  tokenLogits?: Float32Array;
  /** The pairs a device reduction kept, instead of `tokenLogits`. */
  candidates?: LevelCandidates;
}

/**
 * A conservative candidate filter for device reduction: a (location, label) pair is kept when
 * any of the label's token logits is at or above `logitBound` (post-processing's rejection
 * bound, see `candidateFilter` in models/post/atss.ts).
 */
export interface CandidateFilter {
  /** Token indices of each label, labels in ascending order. */
  labelTokens: number[][];
  logitBound: number;
}

/** The pairs of one level a device reduction kept. */
export interface LevelCandidates {
  /** `location * labels + labelIndex` of each kept pair, ascending. */
  pairs: Int32Array;
  /** Each pair's label token logits, `tokensPerPair` values per pair (zero-padded). */
  logits: Float32Array;
  tokensPerPair: number;
}

/** Head outputs for one (image, prompt) pair, levels P3..P7. */
export interface HeadOutput {
  tokenCount: number;
  levels: HeadLevelOutput[];
}
