/**
 * GLIP's ATSS post-processing (`ATSSPostProcessor` with the dot-product head), exactly:
 * sigmoid token logits aggregated to class scores (MEAN or MAX over each label's tokens), the
 * candidate threshold on those scores before centerness, per-level top-k by score x centerness,
 * box decoding with weights (10, 10, 5, 5), the dw/dh clamp and the legacy +1, final score
 * sqrt(score x centerness), clipping to the resized image, class-wise NMS with +1 areas (kept in
 * their original order, as the CUDA kernel returns them), the detections-per-image cut by
 * `kthvalue` (ties at the threshold are all kept) and rescaling to the original size.
 *
 * @module
 */
import type { CandidateFilter, HeadOutput } from "../engine_types.ts";
import type { PostprocessSettings } from "../bundle.ts";
import { levelAnchors } from "./anchors.ts";

/** Detections of one image. */
export interface Detections {
  /** Number of detections. */
  count: number;
  /** xyxy in original-image pixels, [count * 4]. */
  boxes: Float32Array;
  /** xyxy in resized-image pixels, [count * 4]. */
  boxesResized: Float32Array;
  /** Scores, [count]. */
  scores: Float32Array;
  /** 1-based labels of the prompt. */
  labels: Int32Array;
}

/** Image sizes for clipping and rescaling. */
export interface DetectionSizes {
  /** The image's size after resizing (before padding). */
  resized: { width: number; height: number };
  /** The image's original size. */
  original: { width: number; height: number };
}

const f = Math.fround;
const CLIP = Math.log(1000 / 16);

function sigmoid(x: number): number {
  return f(1 / (1 + Math.exp(-x)));
}

/**
 * The class score of one (location, label): the sigmoid of each of the label's token logits
 * (at least one), aggregated (MEAN or MAX) in float32 as GLIP computes it.
 */
function classScore(
  logits: Float32Array,
  row: number,
  tokens: number[],
  aggregation: "MEAN" | "MAX",
): number {
  if (aggregation === "MAX") {
    let value = 0;
    for (let t = 0; t < tokens.length; t++) {
      value = Math.max(value, sigmoid(logits[row + tokens[t]]));
    }
    return value;
  }
  let sum = 0;
  for (let t = 0; t < tokens.length; t++) sum = f(sum + sigmoid(logits[row + tokens[t]]));
  return f(sum / tokens.length);
}

/** The k-th largest value of `values[0, n)` (quickselect on a copy). */
function kthLargest(values: Float32Array, n: number, k: number): number {
  const a = values.slice(0, n);
  let lo = 0;
  let hi = n - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target];
}

/**
 * Indices (into the candidate arrays) of the top `k` products, ordered by product descending
 * and, for equal products, by candidate order (torch.nonzero's row-major location, class).
 */
function topCandidates(products: Float32Array, n: number, k: number): Int32Array {
  let chosen: Int32Array;
  if (n <= k) {
    chosen = Int32Array.from({ length: n }, (_, i) => i);
  } else {
    const threshold = kthLargest(products, n, k);
    chosen = new Int32Array(k);
    let m = 0;
    for (let i = 0; i < n && m < k; i++) if (products[i] > threshold) chosen[m++] = i;
    for (let i = 0; i < n && m < k; i++) if (products[i] === threshold) chosen[m++] = i;
  }
  return chosen.sort((a, b) => products[b] - products[a] || a - b);
}

/** IoU with +1 areas as the CUDA ml_nms kernel computes it, in float32. */
function iouPlusOne(boxes: Float32Array, a: number, b: number): number {
  const left = Math.max(boxes[a * 4], boxes[b * 4]);
  const right = Math.min(boxes[a * 4 + 2], boxes[b * 4 + 2]);
  const top = Math.max(boxes[a * 4 + 1], boxes[b * 4 + 1]);
  const bottom = Math.min(boxes[a * 4 + 3], boxes[b * 4 + 3]);
  const width = Math.max(f(f(right - left) + 1), 0);
  const height = Math.max(f(f(bottom - top) + 1), 0);
  const inter = f(width * height);
  const areaA = f(
    f(f(boxes[a * 4 + 2] - boxes[a * 4]) + 1) * f(f(boxes[a * 4 + 3] - boxes[a * 4 + 1]) + 1),
  );
  const areaB = f(
    f(f(boxes[b * 4 + 2] - boxes[b * 4]) + 1) * f(f(boxes[b * 4 + 3] - boxes[b * 4 + 1]) + 1),
  );
  return f(inter / f(f(areaA + areaB) - inter));
}

/**
 * The logit below which a label cannot pass the score threshold: a mean (or max) of sigmoids
 * exceeds it only if the largest logit exceeds logit(threshold); the 1e-3 margin leaves the
 * boundary to the exact float32 check.
 */
function rejectionBound(threshold: number): number {
  return threshold > 0 && threshold < 1 ? Math.log(threshold / (1 - threshold)) - 1e-3 : -Infinity;
}

/**
 * The labels post-processing scores, ascending: those with at least one token. GLIP's
 * `create_positive_dict` leaves a label that maps to no token out of the positive map, so such
 * a label is never a candidate, whatever the score threshold; a map that still holds one (an
 * older prompt file) is read the same way.
 */
export function scoredLabels(positiveMap: Map<number, number[]>): number[] {
  return [...positiveMap].filter(([, tokens]) => tokens.length > 0).map(([label]) => label)
    .sort((a, b) => a - b);
}

/**
 * The device-reduction filter that keeps every pair {@link postprocessAtss} would examine:
 * the {@link scoredLabels} with their tokens, and the rejection bound.
 */
export function candidateFilter(
  positiveMap: Map<number, number[]>,
  settings: Pick<PostprocessSettings, "scoreThreshold">,
): CandidateFilter {
  return {
    labelTokens: scoredLabels(positiveMap).map((label) => positiveMap.get(label)!),
    logitBound: rejectionBound(settings.scoreThreshold),
  };
}

/**
 * Runs ATSS post-processing on one image's head outputs (dense token logits, or the pairs a
 * device reduction kept).
 *
 * @param positiveMap label -> token indices (a label with no token is never emitted)
 */
export function postprocessAtss(
  head: HeadOutput,
  positiveMap: Map<number, number[]>,
  settings: PostprocessSettings,
  sizes: DetectionSizes,
): Detections {
  const labels = scoredLabels(positiveMap);
  const labelTokens = labels.map((label) => positiveMap.get(label)!);
  const width = sizes.resized.width;
  const height = sizes.resized.height;
  // Per level: candidates, top-k, decode.
  const boxes: number[] = [];
  const scores: number[] = [];
  const outLabels: number[] = [];
  let products = new Float32Array(0);
  let candidateIndex = new Int32Array(0);
  // A mean (or max) of sigmoids exceeds the threshold only if the largest logit exceeds
  // logit(threshold): compare logits first and compute sigmoids only near or above it (the
  // margin leaves the boundary to the exact float32 check).
  const threshold = settings.scoreThreshold;
  const rejectBelow = rejectionBound(threshold);
  const localTokens = labelTokens.map((tokens) => tokens.map((_, q) => q));
  // distinct prompt tokens and, for each, the labels (indices) that use it
  const tokenSet = [...new Set(labelTokens.flat())].sort((a, b) => a - b);
  const unionTokens = Int32Array.from(tokenSet);
  const tokenOwners = tokenSet.map((t) =>
    labelTokens.flatMap((tokens, j) => (tokens.includes(t) ? [j] : []))
  );
  // flat owner lists: the labels (indices) using each distinct token
  const ownerStart = new Int32Array(tokenSet.length + 1);
  tokenOwners.forEach((owners, u) => (ownerStart[u + 1] = ownerStart[u] + owners.length));
  const ownerFlat = Int32Array.from(tokenOwners.flat());
  const marks = new Int32Array(labels.length);
  const L = labels.length;
  const tokenCount = head.tokenCount;
  let stamp = 0;
  for (let l = 0; l < head.levels.length; l++) {
    const level = head.levels[l];
    const locations = level.height * level.width;
    if (products.length < locations * L) {
      products = new Float32Array(locations * L);
      candidateIndex = new Int32Array(locations * L);
    }
    const levelProducts = products;
    const levelCandidates = candidateIndex;
    const logits = level.tokenLogits;
    let n = 0;
    if (level.candidates) {
      // reduced on the device: the kept pairs, ascending (the dense scan's order), each with
      // its label's token logits; every pair the dense scan would examine is among them
      const { pairs, logits: values, tokensPerPair } = level.candidates;
      let location = -1;
      let centerness = -1;
      for (let k = 0; k < pairs.length; k++) {
        const pair = pairs[k];
        const i = Math.floor(pair / L);
        const j = pair - i * L;
        if (i !== location) {
          location = i;
          centerness = -1;
        }
        const score = classScore(
          values,
          k * tokensPerPair,
          localTokens[j],
          settings.scoreAggregation,
        );
        if (!(score > threshold)) continue;
        if (centerness < 0) centerness = sigmoid(level.centerness[i]);
        levelProducts[n] = f(score * centerness);
        levelCandidates[n++] = pair;
      }
    } else if (!logits) {
      throw new Error(`head output level ${l} has neither token logits nor candidates`);
    }
    // candidates: (location, label) pairs above the threshold, in row-major order. Each distinct
    // prompt token is read once per location; only labels owning a token above the rejection
    // bound are examined (the same labels the per-label maximum would let through).
    for (let i = 0; i < (logits ? locations : 0); i++) {
      const row = i * tokenCount;
      const mark = ++stamp;
      let first = L;
      let last = -1;
      for (let u = 0; u < unionTokens.length; u++) {
        if (logits![row + unionTokens[u]] < rejectBelow) continue;
        for (let o = ownerStart[u]; o < ownerStart[u + 1]; o++) {
          const j = ownerFlat[o];
          marks[j] = mark;
          if (j < first) first = j;
          if (j > last) last = j;
        }
      }
      if (last < 0) continue;
      let centerness = -1;
      for (let j = first; j <= last; j++) {
        if (marks[j] !== mark) continue;
        const score = classScore(logits!, row, labelTokens[j], settings.scoreAggregation);
        if (!(score > threshold)) continue;
        if (centerness < 0) centerness = sigmoid(level.centerness[i]);
        levelProducts[n] = f(score * centerness);
        levelCandidates[n++] = i * L + j;
      }
    }
    const order = topCandidates(products, n, Math.min(n, settings.preNmsTopN));
    const anchors = levelAnchors(
      level.height,
      level.width,
      settings.anchorStrides[l],
      settings.anchorSizes[l],
    );
    const [wx, wy, ww, wh] = settings.boxCoderWeights;
    const plane = locations;
    for (const c of order) {
      const i = Math.floor(candidateIndex[c] / L);
      const label = labels[candidateIndex[c] % L];
      const product = products[c];
      const ax1 = anchors[i * 4],
        ay1 = anchors[i * 4 + 1],
        ax2 = anchors[i * 4 + 2],
        ay2 = anchors[i * 4 + 3];
      const aw = f(f(ax2 - ax1) + 1);
      const ah = f(f(ay2 - ay1) + 1);
      const cx = f(f(ax2 + ax1) / 2);
      const cy = f(f(ay2 + ay1) / 2);
      const dx = f(level.bboxRegression[i] / wx);
      const dy = f(level.bboxRegression[plane + i] / wy);
      const dw = Math.min(f(level.bboxRegression[2 * plane + i] / ww), CLIP);
      const dh = Math.min(f(level.bboxRegression[3 * plane + i] / wh), CLIP);
      const pcx = f(f(dx * aw) + cx);
      const pcy = f(f(dy * ah) + cy);
      const pw = f(f(Math.exp(dw)) * aw);
      const ph = f(f(Math.exp(dh)) * ah);
      let x1 = f(pcx - f(0.5 * f(pw - 1)));
      let y1 = f(pcy - f(0.5 * f(ph - 1)));
      let x2 = f(pcx + f(0.5 * f(pw - 1)));
      let y2 = f(pcy + f(0.5 * f(ph - 1)));
      // clip_to_image(remove_empty=False) on the resized (unpadded) image
      x1 = Math.min(Math.max(x1, 0), width - 1);
      y1 = Math.min(Math.max(y1, 0), height - 1);
      x2 = Math.min(Math.max(x2, 0), width - 1);
      y2 = Math.min(Math.max(y2, 0), height - 1);
      // remove_small_boxes(min_size=0): widths with +1 must be >= 0
      if (f(x2 - x1) + 1 < 0 || f(y2 - y1) + 1 < 0) continue;
      boxes.push(x1, y1, x2, y2);
      scores.push(f(Math.sqrt(product)));
      outLabels.push(label);
    }
  }
  const count = scores.length;
  const boxArray = Float32Array.from(boxes);
  // class-wise NMS: per label, visit by score (stable), suppress boxes with IoU > threshold.
  // (Suppression never crosses labels, so doing it per label keeps exactly the same boxes.)
  const byLabel = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    let group = byLabel.get(outLabels[i]);
    if (!group) byLabel.set(outLabels[i], group = []);
    group.push(i);
  }
  const kept: number[] = [];
  for (const group of byLabel.values()) {
    group.sort((a, b) => scores[b] - scores[a] || a - b);
    const suppressed = new Uint8Array(group.length);
    for (let a = 0; a < group.length; a++) {
      if (suppressed[a]) continue;
      const i = group[a];
      kept.push(i);
      for (let b = a + 1; b < group.length; b++) {
        if (!suppressed[b] && iouPlusOne(boxArray, i, group[b]) > settings.nmsThreshold) {
          suppressed[b] = 1;
        }
      }
    }
  }
  kept.sort((a, b) => a - b);
  let final = kept;
  const limit = settings.detectionsPerImage;
  if (limit > 0 && kept.length > limit) {
    const sorted = kept.map((i) => scores[i]).sort((a, b) => a - b);
    const threshold = sorted[kept.length - limit];
    final = kept.filter((i) => scores[i] >= threshold);
  }
  const n = final.length;
  const result: Detections = {
    count: n,
    boxes: new Float32Array(n * 4),
    boxesResized: new Float32Array(n * 4),
    scores: new Float32Array(n),
    labels: new Int32Array(n),
  };
  const ratioX = f(sizes.original.width / sizes.resized.width);
  const ratioY = f(sizes.original.height / sizes.resized.height);
  final.forEach((i, o) => {
    for (let c = 0; c < 4; c++) result.boxesResized[o * 4 + c] = boxArray[i * 4 + c];
    result.boxes[o * 4] = f(boxArray[i * 4] * ratioX);
    result.boxes[o * 4 + 1] = f(boxArray[i * 4 + 1] * ratioY);
    result.boxes[o * 4 + 2] = f(boxArray[i * 4 + 2] * ratioX);
    result.boxes[o * 4 + 3] = f(boxArray[i * 4 + 3] * ratioY);
    result.scores[o] = scores[i];
    result.labels[o] = outLabels[i];
  });
  return result;
}

/** Box conventions of the evaluators: COCO xywh with +1 (GLIP), LVIS without, Flickr xyxy. */
export type BoxConvention = "coco" | "lvis" | "flickr";

/** One detection box in an evaluator's convention. */
export function convertBox(
  boxes: Float32Array,
  i: number,
  convention: BoxConvention,
): [number, number, number, number] {
  const x1 = boxes[i * 4], y1 = boxes[i * 4 + 1], x2 = boxes[i * 4 + 2], y2 = boxes[i * 4 + 3];
  if (convention === "flickr") return [x1, y1, x2, y2];
  const plus = convention === "coco" ? 1 : 0;
  return [x1, y1, f(f(x2 - x1) + plus), f(f(y2 - y1) + plus)];
}
