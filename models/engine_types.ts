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
  /** [3, height, width] values, channel-major. */
  data: Float32Array;
  /** Padded height. */
  height: number;
  /** Padded width. */
  width: number;
}

/** Head outputs for one FPN level, on the host. */
export interface HeadLevelOutput {
  /** The level's feature-map height. */
  height: number;
  /** The level's feature-map width. */
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
  /** Pairs with every token logit below this are dropped. */
  logitBound: number;
}

/** The pairs of one level a device reduction kept. */
export interface LevelCandidates {
  /** `location * labels + labelIndex` of each kept pair, ascending. */
  pairs: Int32Array;
  /** Each pair's label token logits, `tokensPerPair` values per pair (zero-padded). */
  logits: Float32Array;
  /** Logits stored per pair in `logits`. */
  tokensPerPair: number;
}

/** Head outputs for one (image, prompt) pair, levels P3..P7. */
export interface HeadOutput {
  /** T, the number of token positions (the max query length). */
  tokenCount: number;
  /** One entry per FPN level, P3 to P7. */
  levels: HeadLevelOutput[];
}
