/**
 * The tolerances of engine parity (engines/parity.ts), on their own so that readers of run
 * records can check a recorded verdict without loading the model code.
 *
 * @module
 */

/** Tolerance of one comparison: pass when maxAbs <= relative * max|reference| + absolute. */
export interface Tolerance {
  /** Multiplies the reference's largest magnitude. */
  relative: number;
  /** The floor added to it. */
  absolute: number;
}

/**
 * fp32 engines. A correct engine differs from the reference by float32 reordering only: wasm on
 * a random-weight GLIP-T at 800x1344 measured 1.2e-6 (text), 1.1e-6 (image) and 1.2e-4 (head,
 * bbox_reg_l0) of the reference's largest magnitude (2026-12-01); the WebGPU Softmax fault of
 * issue #21 shows as about 0.2. 1e-3 sits eightfold above that noise and 200-fold below the
 * fault.
 */
export const FP32_TOLERANCE: Tolerance = { relative: 1e-3, absolute: 1e-5 };
/** fp16 engines against the fp32 reference: half the mantissa. */
export const FP16_TOLERANCE: Tolerance = { relative: 2e-2, absolute: 2e-3 };
