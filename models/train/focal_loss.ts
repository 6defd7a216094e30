/**
 * GLIP's token-level sigmoid focal loss (`token_sigmoid_binary_focal_loss`, version "binary"),
 * built as graph ops so the gradient builder can differentiate it: for dot-product logits x
 * [B, N, T] and 0/1 token targets t, with p = sigmoid(x),
 *
 *   ce = max(x, 0) - x t + log(1 + exp(-|x|))     (binary_cross_entropy_with_logits)
 *   p_t = p t + (1 - p)(1 - t),  alpha_t = alpha t + (1 - alpha)(1 - t)
 *   loss = sum over unmasked tokens of alpha_t ce (1 - p_t)^gamma
 *
 * Padded text tokens (mask 0) are left out, as GLIP's masked_select does. GLIP then divides by
 * the number of positive locations (at least 1); the caller does that with the ATSS targets.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../graph/builder.ts";

/** Focal loss settings; GLIP uses alpha 0.25 and gamma 2. */
export interface FocalLossSettings {
  alpha: number;
  gamma: number;
}

/** GLIP's defaults (`MODEL.FOCAL.LOSS_ALPHA`, `LOSS_GAMMA`). */
export const GLIP_FOCAL: FocalLossSettings = { alpha: 0.25, gamma: 2 };

/**
 * The summed focal loss of `logits` [B, N, T] against `targets` [B, N, T] (float 0/1) over the
 * tokens where `textMask` [B, T] (float 0/1) is 1. Returns a scalar.
 */
export function tokenSigmoidFocalLoss(
  g: GraphBuilder,
  logits: Value,
  targets: Value,
  textMask: Value,
  settings: FocalLossSettings = GLIP_FOCAL,
): Value {
  const one = g.scalar(1);
  const p = g.op("Sigmoid", [logits]);
  const crossEntropy = g.op("Add", [
    g.op("Sub", [g.op("Relu", [logits]), g.op("Mul", [logits, targets])]),
    g.op("Log", [g.op("Add", [one, g.op("Exp", [g.op("Neg", [g.op("Abs", [logits])])])])]),
  ]);
  const notTargets = g.op("Sub", [one, targets]);
  const pT = g.op("Add", [
    g.op("Mul", [p, targets]),
    g.op("Mul", [g.op("Sub", [one, p]), notTargets]),
  ]);
  let loss = g.op("Mul", [
    crossEntropy,
    g.op("Pow", [g.op("Sub", [one, pT]), g.scalar(settings.gamma)]),
  ]);
  if (settings.alpha >= 0) {
    const alphaT = g.op("Add", [
      g.op("Mul", [targets, g.scalar(settings.alpha)]),
      g.op("Mul", [notTargets, g.scalar(1 - settings.alpha)]),
    ]);
    loss = g.op("Mul", [loss, alphaT]);
  }
  const masked = g.op("Mul", [loss, g.op("Unsqueeze", [textMask, g.ints([1])])]);
  return g.op("ReduceSum", [masked, g.ints([0, 1, 2])], { keepdims: 0 });
}
