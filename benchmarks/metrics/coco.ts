/**
 * COCO bbox evaluation identical to pycocotools' `COCOeval` (2.0.x): the same parameters
 * (numpy-linspace IoU and recall thresholds, maxDets 1/10/100, four inclusive area ranges),
 * crowd and ignore rules, stable score ordering, IoU in the C code's operation order, -1 for
 * undefined cells, and summary means computed as numpy computes them.
 *
 * Use {@link evaluateCoco} for one call, or {@link CocoEvaluator} to stream detections in
 * batches (`reset / process / evaluate`).
 *
 * @module
 */
import { InputError } from "../../core/errors.ts";
import { numpyMean } from "./numpy_mean.ts";

/** numpy's `linspace(start, stop, num)`. */
export function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const values = Array.from({ length: num }, (_, k) => k * step + start);
  values[num - 1] = stop;
  return values;
}

/** Evaluation parameters (pycocotools `Params` for bbox). */
export interface CocoParams {
  /** IoU thresholds (pycocotools: 0.5 to 0.95 in steps of 0.05). */
  iouThrs: number[];
  /** Recall thresholds at which precision is sampled (pycocotools: 0 to 1 in steps of 0.01). */
  recThrs: number[];
  /** Detections kept per image, one evaluation per value (pycocotools: 1, 10, 100). */
  maxDets: number[];
  /** Object area ranges in pixels² (all, small, medium, large). */
  areaRng: [number, number][];
  /** Names of the area ranges, in the order of `areaRng`. */
  areaRngLbl: string[];
  /** Categories to evaluate. @default all GT categories, sorted */
  catIds?: number[];
  /** Images to evaluate. @default all GT images, sorted */
  imgIds?: number[];
}

/** pycocotools' default bbox parameters. */
export function defaultCocoParams(): CocoParams {
  return {
    iouThrs: linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1),
    recThrs: linspace(0, 1, Math.round(1 / 0.01) + 1),
    maxDets: [1, 10, 100],
    areaRng: [[0, 1e5 ** 2], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]],
    areaRngLbl: ["all", "small", "medium", "large"],
  };
}

/** COCO ground truth (the parts the evaluator reads). */
export interface CocoGroundTruth {
  /** Images evaluated (other fields are ignored). */
  images: { id: number; [key: string]: unknown }[];
  /** Ground-truth boxes, COCO xywh; `iscrowd` boxes are matched but never counted as misses. */
  annotations: {
    id: number;
    image_id: number;
    category_id: number;
    bbox: number[];
    area: number;
    iscrowd?: number;
    ignore?: number;
  }[];
  /** Categories evaluated. */
  categories: { id: number; name?: string; [key: string]: unknown }[];
}

/** One detection in COCO results format. */
export interface CocoDetection {
  /** The image the detection is in. */
  image_id: number;
  /** The detected category. */
  category_id: number;
  /** The box as COCO xywh: left, top, width, height. */
  bbox: number[];
  /** Confidence; higher ranks first. */
  score: number;
}

/** Named summary numbers. */
export const COCO_STAT_NAMES = [
  "AP",
  "AP50",
  "AP75",
  "APs",
  "APm",
  "APl",
  "AR1",
  "AR10",
  "AR100",
  "ARs",
  "ARm",
  "ARl",
] as const;

/** Result of a COCO evaluation. */
export interface CocoEvalResult {
  /** The 12 summary numbers in pycocotools' `stats` order (-1 where undefined). */
  stats: number[];
  /** The same 12 numbers by name ({@link COCO_STAT_NAMES}). */
  named: Record<(typeof COCO_STAT_NAMES)[number], number>;
  /** Per category (area all, maxDets 100): AP, AP50, AP75, APs, APm, APl, AR100. */
  perCategory: Record<string, Record<string, number>>;
  /** precision[T][R][K][A][M] flattened C-order. */
  precision: Float64Array;
  /** recall[T][K][A][M] flattened C-order. */
  recall: Float64Array;
  /**
   * Sizes of the precision and recall arrays: IoU thresholds, recall thresholds, categories, area
   * ranges, maxDets.
   */
  dims: { T: number; R: number; K: number; A: number; M: number };
  /** The parameters the evaluation used. */
  params: CocoParams;
  /** The categories evaluated, ascending (the K axis of the arrays). */
  catIds: number[];
}

/** pycocotools' `bbIou` for one pair (C operation order); crowd divides by the detection's area. */
export function boxIou(d: number[], g: number[], crowd: boolean): number {
  const w = Math.min(d[2] + d[0], g[2] + g[0]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[3] + d[1], g[3] + g[1]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2] * d[3];
  const u = crowd ? da : da + g[2] * g[3] - i;
  return i / u;
}

/** Stable sort of indices by descending score. */
export function byScore(scores: number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => (scores[b] - scores[a]) || a - b);
}

/** Checks one detection as the evaluator reads it; errors name the file, index and value. */
function validateDetection(
  d: CocoDetection,
  n: number,
  imageIds: Set<number>,
  file: string,
): void {
  const field = `[${n}]`;
  if (!d || typeof d !== "object") {
    throw new InputError("expected a detection object", { file, field, value: d });
  }
  if (!imageIds.has(d.image_id)) {
    throw new InputError("detection for an image that is not in the ground truth", {
      file,
      field: `${field}.image_id`,
      value: d.image_id,
    });
  }
  if (!Number.isInteger(d.category_id)) {
    throw new InputError("category_id must be an integer", {
      file,
      field: `${field}.category_id`,
      value: d.category_id,
    });
  }
  const box = d.bbox;
  if (
    !Array.isArray(box) || box.length !== 4 || !Number.isFinite(box[0]) ||
    !Number.isFinite(box[1]) || !Number.isFinite(box[2]) || !Number.isFinite(box[3])
  ) {
    throw new InputError("bbox must be 4 finite numbers [x, y, w, h]", {
      file,
      field: `${field}.bbox`,
      value: box,
    });
  }
  if (box[2] < 0 || box[3] < 0) {
    throw new InputError("bbox has a negative width or height", {
      file,
      field: `${field}.bbox`,
      value: box,
    });
  }
  if (typeof d.score !== "number" || !Number.isFinite(d.score)) {
    throw new InputError("score must be a finite number", {
      file,
      field: `${field}.score`,
      value: d.score,
    });
  }
}

/** Prefix sums in place: counts at [c + 1] become start offsets at [c]. */
function prefixSum(starts: Int32Array): void {
  for (let c = 1; c < starts.length; c++) starts[c] += starts[c - 1];
}

/**
 * Stable merge of descending runs: `runStarts` (ascending, ending with the total) delimit runs
 * of `scores` each sorted by descending score; the result orders all indices by descending
 * score, ties by ascending index, as numpy's stable argsort of the concatenation does.
 */
export function mergeDescendingRuns(
  scores: Float64Array,
  runStarts: Int32Array,
  runs: number,
): Int32Array {
  const total = runStarts[runs];
  let order = new Int32Array(total);
  for (let n = 0; n < total; n++) order[n] = n;
  let buffer = new Int32Array(total);
  let bounds = Int32Array.from(runStarts.subarray(0, runs + 1));
  let count = runs;
  while (count > 1) {
    const next = new Int32Array(Math.ceil(count / 2) + 1);
    let out = 0;
    let r = 0;
    for (; r + 1 < count; r += 2) {
      let left = bounds[r];
      const leftEnd = bounds[r + 1];
      let right = leftEnd;
      const rightEnd = bounds[r + 2];
      next[r >> 1] = out;
      while (left < leftEnd && right < rightEnd) {
        // the left run holds the lower indices, so it wins ties
        if (scores[order[right]] > scores[order[left]]) buffer[out++] = order[right++];
        else buffer[out++] = order[left++];
      }
      while (left < leftEnd) buffer[out++] = order[left++];
      while (right < rightEnd) buffer[out++] = order[right++];
    }
    if (r < count) {
      next[r >> 1] = out;
      for (let n = bounds[r]; n < bounds[r + 1]; n++) buffer[out++] = order[n];
    }
    const merged = Math.ceil(count / 2);
    next[merged] = total;
    [order, buffer] = [buffer, order];
    bounds = next;
    count = merged;
  }
  return order;
}

/** Annotations whose category the file does not declare (pycocotools drops them silently). */
export interface UndeclaredCategories {
  /** The undeclared category ids, ascending. */
  categoryIds: number[];
  /** How many annotations use them. */
  annotations: number;
}

/**
 * The annotations of `gt` whose `category_id` is not among its categories, or undefined when
 * there are none. Scoring is unchanged (pycocotools ignores them); callers warn with this.
 *
 * @example
 * ```ts
 * import { undeclaredCategories } from "./coco.ts";
 * const found = undeclaredCategories({
 *   annotations: [{ id: 1, image_id: 1, category_id: 7, bbox: [0, 0, 1, 1], area: 1, iscrowd: 0 }],
 *   categories: [{ id: 1 }],
 * });
 * console.assert(found?.categoryIds[0] === 7 && found.annotations === 1);
 * ```
 */
export function undeclaredCategories(
  gt: Pick<CocoGroundTruth, "annotations" | "categories">,
): UndeclaredCategories | undefined {
  const declared = new Set(gt.categories.map((c) => c.id));
  const ids = new Set<number>();
  let annotations = 0;
  for (const a of gt.annotations) {
    if (declared.has(a.category_id)) continue;
    ids.add(a.category_id);
    annotations++;
  }
  if (annotations === 0) return undefined;
  return { categoryIds: [...ids].sort((a, b) => a - b), annotations };
}

/**
 * Evaluates detections against COCO ground truth exactly as pycocotools does (`COCOeval` for
 * bbox: `evaluate()`, `accumulate()`, `summarize()`), returning the twelve summary numbers,
 * per-category numbers and the precision and recall arrays.
 *
 * Ground truth and detections are grouped by (category, image) cell into flat typed arrays;
 * each cell's detections are sorted by score (stable) and cut to the largest maxDet, the
 * per-category order is a stable merge of the cells' runs, and matching and accumulation run
 * over typed buffers.
 *
 * @param gt the ground truth (images, annotations, categories)
 * @param detections detections in COCO results format
 * @param params overrides of pycocotools' default bbox parameters
 * @param files names for error messages
 *
 * @example A perfect detection scores AP 1
 * ```ts
 * import { evaluateCoco } from "./coco.ts";
 * const gt = {
 *   images: [{ id: 1 }],
 *   annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100 }],
 *   categories: [{ id: 1 }],
 * };
 * const result = evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 1 }]);
 * console.assert(Math.abs(result.named.AP - 1) < 1e-9);
 * ```
 */
export function evaluateCoco(
  gt: CocoGroundTruth,
  detections: CocoDetection[],
  params: Partial<CocoParams> = {},
  files: { gt?: string; dt?: string } = {},
): CocoEvalResult {
  const p: CocoParams = { ...defaultCocoParams(), ...params };
  const dtFile = files.dt ?? "(detections)";
  const allImageIds = new Set(gt.images.map((i) => i.id));
  const imgIds = [...new Set(p.imgIds ?? gt.images.map((i) => i.id))].sort((a, b) => a - b);
  const catIds = [...new Set(p.catIds ?? gt.categories.map((c) => c.id))].sort((a, b) => a - b);
  const catIndex = new Map(catIds.map((c, k) => [c, k]));
  const imgIndex = new Map(imgIds.map((i, n) => [i, n]));
  const I = imgIds.length;
  const K = catIds.length;
  const cellOf = (categoryId: number, imageId: number) => {
    const k = catIndex.get(categoryId);
    const i = imgIndex.get(imageId);
    return k === undefined || i === undefined ? -1 : k * I + i;
  };
  // Ground truth by cell (k * I + i), file order within a cell. pycocotools: ignore = iscrowd.
  const annotations = gt.annotations;
  const gtCell = new Int32Array(annotations.length);
  const gtStart = new Int32Array(K * I + 1);
  for (let n = 0; n < annotations.length; n++) {
    const c = cellOf(annotations[n].category_id, annotations[n].image_id);
    gtCell[n] = c;
    if (c >= 0) gtStart[c + 1]++;
  }
  prefixSum(gtStart);
  const NG = gtStart[K * I];
  const gtBox = new Float64Array(4 * NG);
  const gtArea = new Float64Array(NG);
  const gtCrowd = new Uint8Array(NG);
  // a GT with id 0 never counts as a match (pycocotools stores matched ids, 0 = none)
  const gtCounts = new Uint8Array(NG);
  {
    const cursor = gtStart.slice();
    for (let n = 0; n < annotations.length; n++) {
      const c = gtCell[n];
      if (c < 0) continue;
      const a = annotations[n];
      const at = cursor[c]++;
      for (let q = 0; q < 4; q++) gtBox[4 * at + q] = a.bbox[q];
      gtArea[at] = a.area;
      gtCrowd[at] = a.iscrowd ? 1 : 0;
      gtCounts[at] = a.id !== 0 ? 1 : 0;
    }
  }
  // Detections by cell, validated in the same pass; area = w * h as loadRes computes it.
  const N = detections.length;
  const dtCell = new Int32Array(N);
  const dtStart = new Int32Array(K * I + 1);
  for (let n = 0; n < N; n++) {
    const d = detections[n];
    validateDetection(d, n, allImageIds, dtFile);
    const c = cellOf(d.category_id, d.image_id);
    dtCell[n] = c;
    if (c >= 0) dtStart[c + 1]++;
  }
  prefixSum(dtStart);
  const ND = dtStart[K * I];
  const dtBox = new Float64Array(4 * ND);
  const dtScore = new Float64Array(ND);
  {
    const cursor = dtStart.slice();
    for (let n = 0; n < N; n++) {
      const c = dtCell[n];
      if (c < 0) continue;
      const d = detections[n];
      const at = cursor[c]++;
      for (let q = 0; q < 4; q++) dtBox[4 * at + q] = d.bbox[q];
      dtScore[at] = d.score;
    }
  }
  // Each cell's detections sorted by descending score, stable (numpy mergesort of -score).
  {
    let perm = new Int32Array(16);
    let boxCopy = new Float64Array(64);
    let scoreCopy = new Float64Array(16);
    for (let c = 0; c < K * I; c++) {
      const s = dtStart[c];
      const n = dtStart[c + 1] - s;
      if (n < 2) continue;
      let sorted = true;
      for (let j = 1; j < n && sorted; j++) sorted = dtScore[s + j] <= dtScore[s + j - 1];
      if (sorted) continue;
      if (perm.length < n) {
        perm = new Int32Array(2 * n);
        boxCopy = new Float64Array(8 * n);
        scoreCopy = new Float64Array(2 * n);
      }
      for (let j = 0; j < n; j++) {
        // insertion sort: stable, and cells are small
        const score = dtScore[s + j];
        let at = j;
        while (at > 0 && dtScore[s + perm[at - 1]] < score) {
          perm[at] = perm[at - 1];
          at--;
        }
        perm[at] = j;
      }
      scoreCopy.set(dtScore.subarray(s, s + n));
      boxCopy.set(dtBox.subarray(4 * s, 4 * (s + n)));
      for (let j = 0; j < n; j++) {
        dtScore[s + j] = scoreCopy[perm[j]];
        for (let q = 0; q < 4; q++) dtBox[4 * (s + j) + q] = boxCopy[4 * perm[j] + q];
      }
    }
  }
  const T = p.iouThrs.length;
  const R = p.recThrs.length;
  const A = p.areaRng.length;
  const M = p.maxDets.length;
  const maxDetAll = p.maxDets[M - 1];
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const thresholds = p.iouThrs.map((t) => Math.min(t, 1 - 1e-10));
  const recThrs = Float64Array.from(p.recThrs);
  // Per-category buffers, grown as needed.
  const cellStart = new Int32Array(I + 1); // offset of each cell's detections in the flat order
  const cellGt = new Int32Array(I); // first GT of the cell
  const cellG = new Int32Array(I);
  const cellDt = new Int32Array(I); // first detection of the cell (global index)
  const cellIou = new Int32Array(I); // offset of the cell's IoU block
  let ious = new Float64Array(1024);
  let flatScore = new Float64Array(1024);
  let flatRank = new Int32Array(1024);
  let matched = new Uint8Array(1024 * T);
  let ignored = new Uint8Array(1024 * T);
  let gtOrder = new Int32Array(16);
  let gtIgnore = new Uint8Array(16);
  let gtMatched = new Uint8Array(16 * T);
  const tp = new Float64Array(T);
  const fp = new Float64Array(T);
  const tpCount = new Int32Array(T);
  let tpRecall = new Float64Array(T);
  let tpPrecision = new Float64Array(T);
  for (let k = 0; k < K; k++) {
    let cells = 0;
    let total = 0;
    let iouTotal = 0;
    for (let i = 0; i < I; i++) {
      const c = k * I + i;
      const G = gtStart[c + 1] - gtStart[c];
      const D = Math.min(dtStart[c + 1] - dtStart[c], maxDetAll);
      if (G === 0 && dtStart[c + 1] === dtStart[c]) continue;
      cellGt[cells] = gtStart[c];
      cellG[cells] = G;
      cellDt[cells] = dtStart[c];
      cellStart[cells] = total;
      cellIou[cells] = iouTotal;
      total += D;
      iouTotal += D * G;
      cells++;
    }
    if (cells === 0) continue;
    cellStart[cells] = total;
    if (ious.length < iouTotal) ious = new Float64Array(2 * iouTotal);
    if (flatScore.length < total) {
      flatScore = new Float64Array(2 * total);
      flatRank = new Int32Array(2 * total);
      matched = new Uint8Array(2 * total * T);
      ignored = new Uint8Array(2 * total * T);
    }
    for (let cell = 0; cell < cells; cell++) {
      const D = cellStart[cell + 1] - cellStart[cell];
      const G = cellG[cell];
      const d0 = cellDt[cell];
      const g0 = cellGt[cell];
      const out = cellStart[cell];
      for (let a = 0; a < D; a++) {
        flatScore[out + a] = dtScore[d0 + a];
        flatRank[out + a] = a;
        // pycocotools' bbIou, in the C code's operation order; crowd divides by the dt area
        const dx = dtBox[4 * (d0 + a)], dy = dtBox[4 * (d0 + a) + 1];
        const dw = dtBox[4 * (d0 + a) + 2], dh = dtBox[4 * (d0 + a) + 3];
        const da = dw * dh;
        for (let b = 0; b < G; b++) {
          const g = 4 * (g0 + b);
          const gx = gtBox[g], gy = gtBox[g + 1], gw = gtBox[g + 2], gh = gtBox[g + 3];
          let value = 0;
          const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
          if (w > 0) {
            const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
            if (h > 0) {
              const inter = w * h;
              value = inter / (gtCrowd[g0 + b] ? da : da + gw * gh - inter);
            }
          }
          ious[cellIou[cell] + a * G + b] = value;
        }
      }
    }
    // One stable order of the category's detections by score; the maxDets cuts filter it (a
    // filtered stable order is the stable order of the subset).
    const order = mergeDescendingRuns(flatScore, cellStart, cells);
    const kept = p.maxDets.map((maxDet) => {
      if (maxDet >= maxDetAll) return order;
      let n = 0;
      const subset = new Int32Array(total);
      for (let x = 0; x < total; x++) if (flatRank[order[x]] < maxDet) subset[n++] = order[x];
      return subset.subarray(0, n);
    });
    for (let a = 0; a < A; a++) {
      const [lo, hi] = p.areaRng[a];
      matched.fill(0, 0, total * T);
      ignored.fill(0, 0, total * T);
      let npig = 0;
      for (let cell = 0; cell < cells; cell++) {
        const G = cellG[cell];
        const offset = cellStart[cell];
        const D = cellStart[cell + 1] - offset;
        const g0 = cellGt[cell];
        // GT order: not-ignored first (stable)
        if (gtOrder.length < G) {
          gtOrder = new Int32Array(G * 2);
          gtIgnore = new Uint8Array(G * 2);
          gtMatched = new Uint8Array(T * G * 2);
        }
        let position = 0;
        for (let pass = 0; pass < 2; pass++) {
          for (let j = 0; j < G; j++) {
            const area = gtArea[g0 + j];
            const ignore = gtCrowd[g0 + j] || area < lo || area > hi ? 1 : 0;
            if (ignore !== pass) continue;
            gtOrder[position] = j;
            gtIgnore[position++] = ignore;
            if (ignore === 0) npig++;
          }
        }
        if (G > 0 && D > 0) {
          gtMatched.fill(0, 0, T * G);
          const block = cellIou[cell];
          for (let t = 0; t < T; t++) {
            for (let di = 0; di < D; di++) {
              let iou = thresholds[t];
              let m = -1;
              for (let gi = 0; gi < G; gi++) {
                const gOrig = gtOrder[gi];
                if (gtMatched[t * G + gi] && !gtCrowd[g0 + gOrig]) continue;
                if (m > -1 && gtIgnore[m] === 0 && gtIgnore[gi] === 1) break;
                const value = ious[block + di * G + gOrig];
                if (value < iou) continue;
                iou = value;
                m = gi;
              }
              if (m === -1) continue;
              const at = (offset + di) * T + t;
              ignored[at] = gtIgnore[m];
              matched[at] = gtCounts[g0 + gtOrder[m]];
              gtMatched[t * G + m] = 1;
            }
          }
        }
        const d0 = cellDt[cell];
        for (let di = 0; di < D; di++) {
          const area = dtBox[4 * (d0 + di) + 2] * dtBox[4 * (d0 + di) + 3];
          if (!(area < lo || area > hi)) continue;
          for (let t = 0; t < T; t++) {
            const at = (offset + di) * T + t;
            if (!matched[at]) ignored[at] = 1;
          }
        }
      }
      if (npig === 0) continue;
      // Recall only moves, and precision only rises, at true positives: the first detection
      // reaching a recall threshold is one, and the right-running maximum of precision is taken
      // over them. So record (recall, precision) at true positives only, with pycocotools'
      // divisions, and look the thresholds up among them.
      if (tpRecall.length < T * npig) {
        tpRecall = new Float64Array(2 * T * npig);
        tpPrecision = new Float64Array(2 * T * npig);
      }
      for (let m = 0; m < M; m++) {
        const list = kept[m];
        const nd = list.length;
        tp.fill(0);
        fp.fill(0);
        tpCount.fill(0);
        for (let x = 0; x < nd; x++) {
          const base = list[x] * T;
          for (let t = 0; t < T; t++) {
            if (ignored[base + t]) continue;
            if (matched[base + t]) {
              const hits = ++tp[t];
              const slot = t * npig + tpCount[t]++;
              tpRecall[slot] = hits / npig;
              tpPrecision[slot] = hits / (fp[t] + hits + 2.220446049250313e-16);
            } else fp[t]++;
          }
        }
        for (let t = 0; t < T; t++) {
          recall[((t * K + k) * A + a) * M + m] = nd ? tp[t] / npig : 0;
          const first = t * npig;
          const count = tpCount[t];
          for (let c = first + count - 1; c > first; c--) {
            if (tpPrecision[c] > tpPrecision[c - 1]) tpPrecision[c - 1] = tpPrecision[c];
          }
          let c = 0;
          for (let r = 0; r < R; r++) {
            while (c < count && tpRecall[first + c] < recThrs[r]) c++;
            precision[(((t * R + r) * K + k) * A + a) * M + m] = c < count
              ? tpPrecision[first + c]
              : 0;
          }
        }
      }
    }
  }
  const dims = { T, R, K, A, M };
  const summarize = (
    ap: boolean,
    iouThr: number | null,
    areaLabel: string,
    maxDets: number,
    kOnly?: number,
  ) => {
    const a = p.areaRngLbl.indexOf(areaLabel);
    const m = p.maxDets.indexOf(maxDets);
    if (a < 0 || m < 0) return -1;
    const ts = iouThr === null
      ? p.iouThrs.map((_, t) => t)
      : p.iouThrs.flatMap((v, t) => (v === iouThr ? [t] : []));
    const kFirst = kOnly ?? 0;
    const kEnd = kOnly === undefined ? K : kOnly + 1;
    const values: number[] = [];
    for (const t of ts) {
      if (ap) {
        for (let r = 0; r < R; r++) {
          for (let k = kFirst; k < kEnd; k++) {
            const v = precision[(((t * R + r) * K + k) * A + a) * M + m];
            if (v > -1) values.push(v);
          }
        }
      } else {
        for (let k = kFirst; k < kEnd; k++) {
          const v = recall[((t * K + k) * A + a) * M + m];
          if (v > -1) values.push(v);
        }
      }
    }
    return values.length === 0 ? -1 : numpyMean(values);
  };
  const last = p.maxDets[M - 1];
  const statsFor = (k?: number) => [
    summarize(true, null, "all", last, k),
    summarize(true, 0.5, "all", last, k),
    summarize(true, 0.75, "all", last, k),
    summarize(true, null, "small", last, k),
    summarize(true, null, "medium", last, k),
    summarize(true, null, "large", last, k),
    summarize(false, null, "all", p.maxDets[0], k),
    summarize(false, null, "all", p.maxDets[Math.min(1, M - 1)], k),
    summarize(false, null, "all", last, k),
    summarize(false, null, "small", last, k),
    summarize(false, null, "medium", last, k),
    summarize(false, null, "large", last, k),
  ];
  const stats = statsFor();
  const named = Object.fromEntries(
    COCO_STAT_NAMES.map((name, i) => [name, stats[i]]),
  ) as CocoEvalResult["named"];
  const perCategory: CocoEvalResult["perCategory"] = {};
  catIds.forEach((catId, k) => {
    const s = statsFor(k);
    perCategory[String(catId)] = Object.fromEntries(COCO_STAT_NAMES.map((name, i) => [name, s[i]]));
  });
  return { stats, named, perCategory, precision, recall, dims, params: p, catIds };
}

/**
 * A streaming evaluator in detectron2's style: `process` detections in batches as they are
 * produced, then `evaluate` once.
 */
export class CocoEvaluator {
  #detections: CocoDetection[] = [];
  /**
   * Creates an evaluator with no detections.
   *
   * @param gt The ground truth every batch is scored against.
   * @param params Overrides of pycocotools' default bbox parameters.
   */
  constructor(readonly gt: CocoGroundTruth, readonly params: Partial<CocoParams> = {}) {}
  /** Forgets the detections seen so far. */
  reset(): void {
    this.#detections = [];
  }
  /** Adds a batch of detections. */
  process(batch: CocoDetection[]): void {
    for (const d of batch) this.#detections.push(d);
  }
  /** Evaluates everything processed. */
  evaluate(): CocoEvalResult {
    return evaluateCoco(this.gt, this.#detections, this.params);
  }
}
