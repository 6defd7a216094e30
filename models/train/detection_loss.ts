/**
 * GLIP's detection training loss for one image as graph ops (`ATSSLossComputation.__call__` with
 * `USE_DOT_PRODUCT_TOKEN_LOSS`, `modeling/rpn/loss.py`):
 *
 *   loss = focal(dot-product logits, token targets) / max(#pos, 1)
 *        + 2.0 x sum_pos ctr_t x (1 - GIoU(decode(pred), decode(target))) / sum_pos ctr_t
 *        + sum_pos BCE(centerness logit, ctr_t) / max(#pos, 1)
 *
 * The three divisors come in as the `loss_normalizers` input [3] (token, regression,
 * centerness), computed by the caller over the whole batch, so per-image losses and gradients
 * add up to the batch's exactly (GLIP divides by the batch totals). Box terms are computed at
 * every anchor and weighted by the centerness targets (zero at negatives), which keeps the graph
 * static; negatives get their anchor as target box so every term stays finite.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../graph/builder.ts";
import { tokenSigmoidFocalLoss } from "./focal_loss.ts";

/** `MODEL.ATSS.REG_LOSS_WEIGHT`. */
export const REG_LOSS_WEIGHT = 2.0;

/** The per-image target inputs of the loss graph; N anchors, T tokens. */
export interface LossInputs {
  /** [1, N, T] 0/1. */
  tokenTargets: Value;
  /** [N, 4]: anchor centre x, centre y, width + 1, height + 1. */
  anchorGeometry: Value;
  /** [N, 4] xyxy: the decoded regression target (the anchor itself at negatives). */
  targetBoxes: Value;
  /** [N]: centerness targets, 0 at negatives. */
  centernessTargets: Value;
  /** [N]: 1 at positive anchors. */
  positive: Value;
  /** [3]: 1/max(#pos,1), 2.0/sum(ctr_t) (0 without positives), 1/max(#pos,1). */
  normalizers: Value;
  /** [1, T] float text mask. */
  textMask: Value;
}

/** Head outputs of all levels. */
export interface LossHeadOutputs {
  bboxReg: Value[];
  centerness: Value[];
  logits: Value[];
}

/** Loss parts and their sum, all scalars. */
export interface DetectionLoss {
  total: Value;
  token: Value;
  regression: Value;
  centerness: Value;
}

function column(g: GraphBuilder, x: Value, index: number): Value {
  return g.op("Slice", [x, g.ints([index]), g.ints([index + 1]), g.ints([1])]);
}

function sumAll(g: GraphBuilder, x: Value, rank: number): Value {
  return g.op("ReduceSum", [x, g.ints([...Array(rank).keys()])], { keepdims: 0 });
}

/**
 * The GIoU loss terms (1 - GIoU) per anchor, [N, 1], of regression outputs `deltas` [N, 4]
 * decoded against the anchors, as `ATSSLossComputation.GIoULoss` computes them.
 */
export function giouLossTerms(
  g: GraphBuilder,
  deltas: Value,
  anchorGeometry: Value,
  targetBoxes: Value,
): Value {
  const [acx, acy, aw, ah] = [0, 1, 2, 3].map((i) => column(g, anchorGeometry, i));
  const clamp = g.scalar(Math.log(1000 / 16));
  const half = g.scalar(0.5);
  const one = g.scalar(1);
  const cx = g.op("Add", [
    g.op("Mul", [g.op("Div", [column(g, deltas, 0), g.scalar(10)]), aw]),
    acx,
  ]);
  const cy = g.op("Add", [
    g.op("Mul", [g.op("Div", [column(g, deltas, 1), g.scalar(10)]), ah]),
    acy,
  ]);
  const w = g.op("Mul", [
    g.op("Exp", [g.op("Min", [g.op("Div", [column(g, deltas, 2), g.scalar(5)]), clamp])]),
    aw,
  ]);
  const h = g.op("Mul", [
    g.op("Exp", [g.op("Min", [g.op("Div", [column(g, deltas, 3), g.scalar(5)]), clamp])]),
    ah,
  ]);
  const halfW = g.op("Mul", [half, g.op("Sub", [w, one])]);
  const halfH = g.op("Mul", [half, g.op("Sub", [h, one])]);
  const x1 = g.op("Sub", [cx, halfW]);
  const y1 = g.op("Sub", [cy, halfH]);
  const x2 = g.op("Max", [x1, g.op("Add", [cx, halfW])]);
  const y2 = g.op("Max", [y1, g.op("Add", [cy, halfH])]);
  const [tx1, ty1, tx2, ty2] = [0, 1, 2, 3].map((i) => column(g, targetBoxes, i));
  const predArea = g.op("Mul", [g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])]);
  const targetArea = g.op("Mul", [g.op("Sub", [tx2, tx1]), g.op("Sub", [ty2, ty1])]);
  const intersection = g.op("Mul", [
    g.op("Relu", [g.op("Sub", [g.op("Min", [x2, tx2]), g.op("Max", [x1, tx1])])]),
    g.op("Relu", [g.op("Sub", [g.op("Min", [y2, ty2]), g.op("Max", [y1, ty1])])]),
  ]);
  const epsilon = g.scalar(1e-7);
  const enclosing = g.op("Add", [
    g.op("Mul", [
      g.op("Sub", [g.op("Max", [x2, tx2]), g.op("Min", [x1, tx1])]),
      g.op("Sub", [g.op("Max", [y2, ty2]), g.op("Min", [y1, ty1])]),
    ]),
    epsilon,
  ]);
  const union = g.op("Add", [
    g.op("Sub", [g.op("Add", [predArea, targetArea]), intersection]),
    epsilon,
  ]);
  const giou = g.op("Sub", [
    g.op("Div", [intersection, union]),
    g.op("Div", [g.op("Sub", [enclosing, union]), enclosing]),
  ]);
  return g.op("Sub", [one, giou]);
}

/** Flattens per-level head outputs to GLIP's anchor order (levels, then rows, then columns). */
export function flattenHeadOutputs(
  g: GraphBuilder,
  head: LossHeadOutputs,
): { deltas: Value; centerness: Value; logits: Value } {
  const deltas = head.bboxReg.map((r) =>
    g.op("Transpose", [g.op("Reshape", [r, g.ints([4, -1])])], { perm: [1, 0] })
  );
  const centerness = head.centerness.map((c) => g.op("Reshape", [c, g.ints([-1])]));
  return {
    deltas: g.op("Concat", deltas, { axis: 0 }),
    centerness: g.op("Concat", centerness, { axis: 0 }),
    logits: g.op("Concat", head.logits, { axis: 1 }),
  };
}

/** Appends GLIP's detection loss for one image. */
export function detectionLoss(
  g: GraphBuilder,
  head: LossHeadOutputs,
  inputs: LossInputs,
): DetectionLoss {
  const flat = flattenHeadOutputs(g, head);
  const normalizer = (i: number) =>
    g.op("Squeeze", [
      g.op("Slice", [inputs.normalizers, g.ints([i]), g.ints([i + 1]), g.ints([0])]),
      g.ints([0]),
    ]);
  const token = g.op("Mul", [
    tokenSigmoidFocalLoss(g, flat.logits, inputs.tokenTargets, inputs.textMask),
    normalizer(0),
  ]);
  const giouTerms = g.op("Reshape", [
    giouLossTerms(g, flat.deltas, inputs.anchorGeometry, inputs.targetBoxes),
    g.ints([-1]),
  ]);
  const regression = g.op("Mul", [
    sumAll(g, g.op("Mul", [giouTerms, inputs.centernessTargets]), 1),
    normalizer(1),
  ]);
  // BCE with logits: max(x, 0) - x t + log(1 + exp(-|x|)), positives only
  const x = flat.centerness;
  const t = inputs.centernessTargets;
  const bce = g.op("Add", [
    g.op("Sub", [g.op("Relu", [x]), g.op("Mul", [x, t])]),
    g.op("Log", [
      g.op("Add", [g.scalar(1), g.op("Exp", [g.op("Neg", [g.op("Abs", [x])])])]),
    ]),
  ]);
  const centerness = g.op("Mul", [
    sumAll(g, g.op("Mul", [bce, inputs.positive]), 1),
    normalizer(2),
  ]);
  const total = g.op("Add", [g.op("Add", [token, regression]), centerness]);
  return { total, token, regression, centerness };
}
