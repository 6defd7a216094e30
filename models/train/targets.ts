/**
 * GLIP's training targets for one image (`ATSSLossComputation.prepare_targets` and
 * `compute_centerness_targets` in `modeling/rpn/loss.py`), in TypeScript:
 *
 * - ATSS assignment: for each ground-truth box, the `topk` (9) anchors per FPN level nearest to
 *   its centre are candidates; a candidate is positive when its IoU (legacy +1 areas) reaches the
 *   mean plus the unbiased standard deviation of the box's candidate IoUs and its centre lies
 *   inside the box by more than 0.01 on every side; an anchor positive for several boxes takes
 *   the one with the highest IoU.
 * - Token targets: a positive anchor gets its box's row of the positive map (1 on the tokens of
 *   the box's phrase); others get GLIP's "no object" row, 1 on the last token only (which the
 *   text mask removes unless the prompt fills every position).
 * - Regression targets: the box coder's encoding (weights 10, 10, 5, 5; +1 widths).
 * - Centerness targets: sqrt(min(l,r)/max(l,r) x min(t,b)/max(t,b)) of the decoded target around
 *   the anchor centre, positives only.
 *
 * Arithmetic is float64 where GLIP uses float32 on the GPU, so an anchor whose IoU sits exactly
 * at its box's threshold may differ; `torch.topk` ties are broken by lower anchor index.
 *
 * @module
 */

/** GLIP's ATSS settings (`MODEL.ATSS.TOPK`). */
export const ATSS_TOPK = 9;

/** The box coder's weights (wx, wy, ww, wh). */
export const BOX_CODER_WEIGHTS = [10, 10, 5, 5] as const;

/** One ground-truth box in resized-image pixels, GLIP's xyxy (x2 = x + w - 1). */
export interface TargetBox {
  box: [number, number, number, number];
  /** Token positions of the box's phrase in the prompt (the positive map row). */
  tokens: number[];
}

/** Targets of one image over all anchors (levels concatenated, P3 first). */
export interface ImageTargets {
  anchorCount: number;
  tokenCount: number;
  /** Index of the matched box per anchor, -1 for negatives. */
  matched: Int32Array;
  /** 1 for positive anchors. */
  positive: Float32Array;
  /** Token targets [anchors, tokens] (0/1). */
  tokenTargets: Float32Array;
  /** Encoded regression targets [anchors, 4] (zeros for negatives). */
  regressionTargets: Float32Array;
  /** Centerness targets [anchors] (zeros for negatives). */
  centernessTargets: Float32Array;
  positiveCount: number;
  centernessSum: number;
}

/** Encodes a box against an anchor as GLIP's BoxCoder does. */
export function encodeBox(
  box: ArrayLike<number>,
  anchor: ArrayLike<number>,
): [number, number, number, number] {
  const [wx, wy, ww, wh] = BOX_CODER_WEIGHTS;
  const aw = anchor[2] - anchor[0] + 1;
  const ah = anchor[3] - anchor[1] + 1;
  const acx = (anchor[2] + anchor[0]) / 2;
  const acy = (anchor[3] + anchor[1]) / 2;
  const bw = box[2] - box[0] + 1;
  const bh = box[3] - box[1] + 1;
  const bcx = (box[2] + box[0]) / 2;
  const bcy = (box[3] + box[1]) / 2;
  return [
    wx * (bcx - acx) / aw,
    wy * (bcy - acy) / ah,
    ww * Math.log(bw / aw),
    wh * Math.log(bh / ah),
  ];
}

/** Decodes regression values against an anchor (the dw/dh clamp at log(1000/16) included). */
export function decodeBox(
  deltas: ArrayLike<number>,
  anchor: ArrayLike<number>,
): [number, number, number, number] {
  const [wx, wy, ww, wh] = BOX_CODER_WEIGHTS;
  const clamp = Math.log(1000 / 16);
  const aw = anchor[2] - anchor[0] + 1;
  const ah = anchor[3] - anchor[1] + 1;
  const cx = deltas[0] / wx * aw + (anchor[2] + anchor[0]) / 2;
  const cy = deltas[1] / wy * ah + (anchor[3] + anchor[1]) / 2;
  const w = Math.exp(Math.min(deltas[2] / ww, clamp)) * aw;
  const h = Math.exp(Math.min(deltas[3] / wh, clamp)) * ah;
  return [cx - 0.5 * (w - 1), cy - 0.5 * (h - 1), cx + 0.5 * (w - 1), cy + 0.5 * (h - 1)];
}

/** IoU with legacy +1 areas (`boxlist_iou`). */
export function legacyIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const areaA = (a[2] - a[0] + 1) * (a[3] - a[1] + 1);
  const areaB = (b[2] - b[0] + 1) * (b[3] - b[1] + 1);
  const w = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]) + 1, 0);
  const h = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]) + 1, 0);
  const inter = w * h;
  return inter / (areaA + areaB - inter);
}

/** Indices of the k smallest values, ascending by value, ties by index. */
function smallestK(values: Float64Array, k: number): number[] {
  const order = Array.from(values.keys());
  order.sort((i, j) => values[i] - values[j] || i - j);
  return order.slice(0, k);
}

/**
 * Computes the targets of one image.
 *
 * @example
 * ```ts
 * import { levelAnchors } from "../post/anchors.ts";
 * import { atssTargets } from "./targets.ts";
 * // one 16x16 P3 level; a box exactly on the anchor at row 3, column 4
 * const anchors = [levelAnchors(16, 16, 8, 64)];
 * const t = atssTargets(anchors, [{ box: [4, -4, 67, 59], tokens: [1, 2] }], 8);
 * console.assert(t.matched[3 * 16 + 4] === 0 && t.tokenTargets[(3 * 16 + 4) * 8 + 1] === 1);
 * ```
 *
 * @param levelAnchors anchors per level, xyxy [H*W*4] each (see `models/post/anchors.ts`)
 * @param boxes the image's ground truth in resized-image pixels
 * @param tokenCount the prompt's padded length T
 */
export function atssTargets(
  levelAnchors: Float32Array[],
  boxes: TargetBox[],
  tokenCount: number,
  topk = ATSS_TOPK,
): ImageTargets {
  const counts = levelAnchors.map((a) => a.length / 4);
  const anchorCount = counts.reduce((a, b) => a + b, 0);
  const anchors = new Float64Array(anchorCount * 4);
  let offset = 0;
  for (const level of levelAnchors) {
    anchors.set(level, offset);
    offset += level.length;
  }
  const anchorAt = (i: number) => anchors.subarray(i * 4, i * 4 + 4);
  const bestIou = new Float64Array(anchorCount).fill(-Infinity);
  const matched = new Int32Array(anchorCount).fill(-1);
  boxes.forEach(({ box }, b) => {
    const gx = (box[0] + box[2]) / 2;
    const gy = (box[1] + box[3]) / 2;
    const candidates: number[] = [];
    let start = 0;
    for (const count of counts) {
      const distances = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const a = anchorAt(start + i);
        distances[i] = Math.hypot((a[0] + a[2]) / 2 - gx, (a[1] + a[3]) / 2 - gy);
      }
      for (const i of smallestK(distances, Math.min(topk, count))) candidates.push(start + i);
      start += count;
    }
    const ious = candidates.map((i) => legacyIou(anchorAt(i), box));
    const mean = ious.reduce((s, v) => s + v, 0) / ious.length;
    // torch.std is unbiased; with a single candidate it is NaN and nothing is positive
    const variance = ious.reduce((s, v) => s + (v - mean) ** 2, 0) / (ious.length - 1);
    const threshold = mean + Math.sqrt(variance);
    candidates.forEach((i, c) => {
      if (!(ious[c] >= threshold)) return;
      const a = anchorAt(i);
      const cx = (a[0] + a[2]) / 2;
      const cy = (a[1] + a[3]) / 2;
      const inside = Math.min(cx - box[0], cy - box[1], box[2] - cx, box[3] - cy) > 0.01;
      // ties keep the first box, as torch.max returns the first maximum
      if (inside && ious[c] > bestIou[i]) {
        bestIou[i] = ious[c];
        matched[i] = b;
      }
    });
  });
  const positive = new Float32Array(anchorCount);
  const tokenTargets = new Float32Array(anchorCount * tokenCount);
  const regressionTargets = new Float32Array(anchorCount * 4);
  const centernessTargets = new Float32Array(anchorCount);
  let positiveCount = 0;
  let centernessSum = 0;
  for (let i = 0; i < anchorCount; i++) {
    const b = matched[i];
    const row = i * tokenCount;
    if (b < 0) {
      tokenTargets[row + tokenCount - 1] = 1;
      continue;
    }
    positive[i] = 1;
    positiveCount++;
    for (const t of boxes[b].tokens) if (t >= 0 && t < tokenCount) tokenTargets[row + t] = 1;
    const anchor = anchorAt(i);
    const encoded = encodeBox(boxes[b].box, anchor);
    regressionTargets.set(encoded, i * 4);
    const decoded = decodeBox(Float32Array.from(encoded), anchor);
    const cx = (anchor[0] + anchor[2]) / 2;
    const cy = (anchor[1] + anchor[3]) / 2;
    const l = cx - decoded[0], r = decoded[2] - cx;
    const t = cy - decoded[1], btm = decoded[3] - cy;
    const centerness = Math.sqrt(
      (Math.min(l, r) / Math.max(l, r)) * (Math.min(t, btm) / Math.max(t, btm)),
    );
    centernessTargets[i] = centerness;
    centernessSum += Math.fround(centerness);
  }
  return {
    anchorCount,
    tokenCount,
    matched,
    positive,
    tokenTargets,
    regressionTargets,
    centernessTargets,
    positiveCount,
    centernessSum,
  };
}

/** The box inputs of the loss graph: anchor geometry and decoded target boxes, [N, 4] each. */
export function lossBoxTensors(
  levelAnchors: Float32Array[],
  targets: ImageTargets,
): { anchorGeometry: Float32Array; targetBoxes: Float32Array } {
  const n = targets.anchorCount;
  const anchorGeometry = new Float32Array(n * 4);
  const targetBoxes = new Float32Array(n * 4);
  let i = 0;
  for (const level of levelAnchors) {
    for (let j = 0; j < level.length; j += 4, i++) {
      const anchor = level.subarray(j, j + 4);
      anchorGeometry[i * 4] = (anchor[0] + anchor[2]) / 2;
      anchorGeometry[i * 4 + 1] = (anchor[1] + anchor[3]) / 2;
      anchorGeometry[i * 4 + 2] = anchor[2] - anchor[0] + 1;
      anchorGeometry[i * 4 + 3] = anchor[3] - anchor[1] + 1;
      // GLIP decodes the float32 regression target again; negatives keep their anchor
      const box = targets.positive[i] > 0
        ? decodeBox(targets.regressionTargets.subarray(i * 4, i * 4 + 4), anchor)
        : anchor;
      targetBoxes.set(box, i * 4);
    }
  }
  return { anchorGeometry, targetBoxes };
}
