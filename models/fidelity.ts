/**
 * The fidelity gate of `deno task trace --compare`: how close a traced tensor, or a set of
 * detections, must be to what the official GLIP code computed.
 *
 * - A **tensor** is judged by its largest error relative to the reference's largest magnitude:
 *   it passes when `max |ours - ref| <= atol + scaled * max |ref|`. Float32 accumulation error
 *   grows with a tensor's scale, not with each element's size, so dividing by each reference
 *   element (numpy's allclose) fails on elements that happen to be near zero.
 * - **Detections** are compared as sets: each reference detection needs one of ours with the
 *   same label, boxes overlapping by at least `minIoU` and a score within `score`. The order may
 *   differ only between detections whose reference scores are within `score` of each other (two
 *   near-equal scores can swap rank under float32 rounding; a clear reordering is an error).
 *   A detection present on one side only is allowed only where rounding can decide it: its
 *   score is within `score` of the score threshold, or of the other side's lowest score when the
 *   other side is at the detections-per-image cut.
 *
 * @module
 */

/** How close is close enough. */
export interface FidelityTolerance {
  /** A tensor's largest error, as a fraction of the reference's largest magnitude. */
  scaled: number;
  /** Absolute floor added to the scaled bound (for all-zero or tiny references). */
  atol: number;
  /** Largest score difference between matched detections (and between reordered ones). */
  score: number;
  /** Smallest IoU (GLIP's +1 pixel convention) between matched boxes. */
  minIoU: number;
}

/**
 * The defaults of `trace --compare`: the tiny reference's strictness (1e-4, 1e-5 as before,
 * now relative to the tensor's scale), scores within 1e-4, boxes overlapping by 0.999.
 */
export const DEFAULT_TOLERANCE: Readonly<FidelityTolerance> = Object.freeze({
  scaled: 1e-4,
  atol: 1e-5,
  score: 1e-4,
  minIoU: 0.999,
});

/** The result for one tensor. */
export interface TensorComparison {
  name: string;
  shape: number[];
  /** max |ours - ref| (Infinity when a value is non-finite on one side only, or shapes differ). */
  maxAbs: number;
  /** mean |ours - ref| over all elements. */
  meanAbs: number;
  /** max |ref| over the finite reference values: the tensor's scale. */
  scale: number;
  /** maxAbs / scale (0 when both are 0; Infinity when the scale is 0 and maxAbs is not). */
  scaledError: number;
  /** The element with the largest error. */
  worst?: { index: number; ours: number; reference: number };
  ok: boolean;
  /** Why it failed, when the numbers alone do not say (shape, non-finite values). */
  note?: string;
}

/**
 * Compares one tensor with its reference (same element order). Equal values count as no error
 * (so equal infinities pass); a non-finite value on one side only fails the tensor.
 */
export function compareTensor(
  name: string,
  ours: { shape: number[]; data: ArrayLike<number> },
  reference: { shape: number[]; data: ArrayLike<number> },
  tolerance: Pick<FidelityTolerance, "scaled" | "atol">,
): TensorComparison {
  const base = { name, shape: ours.shape };
  if (ours.data.length !== reference.data.length) {
    return {
      ...base,
      maxAbs: Infinity,
      meanAbs: Infinity,
      scale: NaN,
      scaledError: Infinity,
      ok: false,
      note: `shape [${ours.shape}] vs reference [${reference.shape}]`,
    };
  }
  const n = reference.data.length;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    const value = Math.abs(reference.data[i]);
    if (Number.isFinite(value) && value > scale) scale = value;
  }
  let maxAbs = 0;
  let sum = 0;
  let worst: TensorComparison["worst"];
  let nonFinite: number | undefined;
  for (let i = 0; i < n; i++) {
    const a = ours.data[i];
    const b = reference.data[i];
    if (a === b) continue;
    const diff = Math.abs(a - b);
    if (!Number.isFinite(diff)) {
      nonFinite ??= i;
      maxAbs = Infinity;
      worst ??= { index: i, ours: a, reference: b };
      continue;
    }
    sum += diff;
    if (diff > maxAbs) {
      maxAbs = diff;
      worst = { index: i, ours: a, reference: b };
    }
  }
  const meanAbs = nonFinite === undefined ? (n > 0 ? sum / n : 0) : Infinity;
  const scaledError = maxAbs === 0 ? 0 : scale === 0 ? Infinity : maxAbs / scale;
  const ok = nonFinite === undefined && maxAbs <= tolerance.atol + tolerance.scaled * scale;
  return {
    ...base,
    maxAbs,
    meanAbs,
    scale,
    scaledError,
    worst,
    ok,
    ...(nonFinite === undefined ? {} : {
      note: `non-finite value at index ${nonFinite}: ${ours.data[nonFinite]} vs reference ${
        reference.data[nonFinite]
      }`,
    }),
  };
}

/** Detections of one image: `count` boxes (xyxy), scores and labels. */
export interface DetectionSet {
  /** xyxy in original-image pixels, [count * 4]. */
  boxes: ArrayLike<number>;
  /** xyxy in resized-image pixels, [count * 4], when known. */
  boxesResized?: ArrayLike<number>;
  scores: ArrayLike<number>;
  labels: ArrayLike<number>;
}

/** Where post-processing cuts detections, so that rounding may put one on either side. */
export interface DetectionCut {
  /** Candidates need a class score above this. */
  scoreThreshold?: number;
  /** At most this many detections per image (0: no cut). */
  detectionsPerImage?: number;
}

/** The result for one set of detections. */
export interface DetectionComparison {
  name: string;
  ours: number;
  reference: number;
  matched: number;
  /** Unmatched detections allowed because their score sits at a cut (either side). */
  atCut: number;
  /** Largest |score difference| over matched pairs. */
  maxScoreDiff: number;
  /** Smallest IoU over matched pairs (1 when none matched). */
  minIoU: number;
  /** Largest coordinate difference (original pixels) over matched pairs. */
  maxBoxDiff: number;
  /** Matched detections whose rank differs from the reference's (allowed near-ties). */
  reordered: number;
  /** What failed, one line each (at most 10, then a count). */
  problems: string[];
  ok: boolean;
}

/** Checks that a detection set's arrays agree on the count; returns the count. */
export function detectionCount(set: DetectionSet): number {
  const n = set.scores.length;
  if (set.labels.length !== n || set.boxes.length !== n * 4) {
    throw new RangeError(
      `a detection set needs count x 4 boxes and count labels for ${n} scores ` +
        `(got ${set.boxes.length} box values, ${set.labels.length} labels)`,
    );
  }
  if (set.boxesResized && set.boxesResized.length !== n * 4) {
    throw new RangeError(
      `boxes_resized has ${set.boxesResized.length} values for ${n} detections (expected ${n * 4})`,
    );
  }
  return n;
}

/** IoU of box a of `p` and box b of `q` with GLIP's +1 areas (a zero-width box has area 1). */
function iouPlusOne(p: ArrayLike<number>, a: number, q: ArrayLike<number>, b: number): number {
  const w = Math.max(Math.min(p[a * 4 + 2], q[b * 4 + 2]) - Math.max(p[a * 4], q[b * 4]) + 1, 0);
  const h = Math.max(
    Math.min(p[a * 4 + 3], q[b * 4 + 3]) - Math.max(p[a * 4 + 1], q[b * 4 + 1]) + 1,
    0,
  );
  const inter = w * h;
  const area = (r: ArrayLike<number>, i: number) =>
    Math.max(r[i * 4 + 2] - r[i * 4] + 1, 0) * Math.max(r[i * 4 + 3] - r[i * 4 + 1] + 1, 0);
  const union = area(p, a) + area(q, b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Indices sorted by score descending, ties in index order. */
function byScore(scores: ArrayLike<number>, n: number): number[] {
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
}

function describe(set: DetectionSet, i: number): string {
  const box = Array.from({ length: 4 }, (_, c) => Number(set.boxes[i * 4 + c]).toFixed(2));
  return `label ${set.labels[i]} score ${set.scores[i]} box [${box.join(", ")}]`;
}

/**
 * Compares our detections with the reference's as sets (see the module notes). Matching is
 * greedy in the reference's score order, taking the unmatched candidate with the highest IoU;
 * after class-wise NMS two of our boxes of one label cannot both overlap one reference box by
 * `minIoU` > NMS threshold, so the greedy match is the only one.
 *
 * @throws {RangeError} when a set's arrays disagree on the number of detections
 */
export function compareDetections(
  name: string,
  ours: DetectionSet,
  reference: DetectionSet,
  tolerance: Pick<FidelityTolerance, "score" | "minIoU">,
  cut: DetectionCut = {},
): DetectionComparison {
  const nOurs = detectionCount(ours);
  const nRef = detectionCount(reference);
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (line: string) => {
    if (problems.length < 10) problems.push(line);
    problemCount++;
  };
  const byLabel = new Map<number, number[]>();
  for (let i = 0; i < nOurs; i++) {
    const label = Number(ours.labels[i]);
    let list = byLabel.get(label);
    if (!list) byLabel.set(label, list = []);
    list.push(i);
  }
  const refOrder = byScore(reference.scores, nRef);
  const oursOrder = byScore(ours.scores, nOurs);
  const partnerOfOurs = new Int32Array(nOurs).fill(-1);
  const partnerOfRef = new Int32Array(nRef).fill(-1);
  let maxScoreDiff = 0;
  let minIoU = 1;
  let maxBoxDiff = 0;
  for (const r of refOrder) {
    let best = -1;
    let bestIoU = -1;
    for (const o of byLabel.get(Number(reference.labels[r])) ?? []) {
      if (partnerOfOurs[o] >= 0) continue;
      if (!(Math.abs(ours.scores[o] - reference.scores[r]) <= tolerance.score)) continue;
      let iou = iouPlusOne(ours.boxes, o, reference.boxes, r);
      if (ours.boxesResized && reference.boxesResized) {
        iou = Math.min(iou, iouPlusOne(ours.boxesResized, o, reference.boxesResized, r));
      }
      if (iou >= tolerance.minIoU && iou > bestIoU) {
        best = o;
        bestIoU = iou;
      }
    }
    if (best < 0) continue;
    partnerOfOurs[best] = r;
    partnerOfRef[r] = best;
    maxScoreDiff = Math.max(maxScoreDiff, Math.abs(ours.scores[best] - reference.scores[r]));
    minIoU = Math.min(minIoU, bestIoU);
    for (let c = 0; c < 4; c++) {
      maxBoxDiff = Math.max(
        maxBoxDiff,
        Math.abs(ours.boxes[best * 4 + c] - reference.boxes[r * 4 + c]),
      );
    }
  }
  const lowest = (set: DetectionSet, n: number) => {
    let low = Infinity;
    for (let i = 0; i < n; i++) low = Math.min(low, set.scores[i]);
    return low;
  };
  const lowestOurs = lowest(ours, nOurs);
  const lowestRef = lowest(reference, nRef);
  const atCutOf = (score: number, otherCount: number, otherLowest: number) => {
    if (
      cut.scoreThreshold !== undefined &&
      Math.abs(score - cut.scoreThreshold) <= tolerance.score
    ) return true;
    const limit = cut.detectionsPerImage ?? 0;
    return limit > 0 && otherCount >= limit && score <= otherLowest + tolerance.score;
  };
  let atCut = 0;
  for (const r of refOrder) {
    if (partnerOfRef[r] >= 0) continue;
    if (atCutOf(reference.scores[r], nOurs, lowestOurs)) atCut++;
    else problem(`missing: ${describe(reference, r)}`);
  }
  for (const o of oursOrder) {
    if (partnerOfOurs[o] >= 0) continue;
    if (atCutOf(ours.scores[o], nRef, lowestRef)) atCut++;
    else problem(`extra: ${describe(ours, o)}`);
  }
  // Walking our order, a matched detection whose reference score exceeds that of one placed
  // before it by more than the tolerance is a rank swap the rounding cannot explain.
  const refMatchedRank = new Int32Array(nRef).fill(-1);
  let next = 0;
  for (const r of refOrder) if (partnerOfRef[r] >= 0) refMatchedRank[r] = next++;
  let reordered = 0;
  let lowestSoFar = -1;
  let matchedRank = 0;
  for (const o of oursOrder) {
    const r = partnerOfOurs[o];
    if (r < 0) continue;
    if (refMatchedRank[r] !== matchedRank++) reordered++;
    if (
      lowestSoFar >= 0 && reference.scores[r] - reference.scores[lowestSoFar] > tolerance.score
    ) {
      problem(
        `rank swap: ${describe(reference, r)} comes after ${
          describe(reference, lowestSoFar)
        } (reference scores differ by more than ${tolerance.score})`,
      );
    }
    if (lowestSoFar < 0 || reference.scores[r] < reference.scores[lowestSoFar]) lowestSoFar = r;
  }
  if (problemCount > problems.length) {
    problems.push(`… and ${problemCount - problems.length} more`);
  }
  const matched = nRef - partnerOfRef.filter((p) => p < 0).length;
  return {
    name,
    ours: nOurs,
    reference: nRef,
    matched,
    atCut,
    maxScoreDiff,
    minIoU,
    maxBoxDiff,
    reordered,
    problems,
    ok: problemCount === 0,
  };
}
