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
  iouThrs: number[];
  recThrs: number[];
  maxDets: number[];
  areaRng: [number, number][];
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
  images: { id: number; [key: string]: unknown }[];
  annotations: {
    id: number;
    image_id: number;
    category_id: number;
    bbox: number[];
    area: number;
    iscrowd?: number;
    ignore?: number;
  }[];
  categories: { id: number; name?: string; [key: string]: unknown }[];
}

/** One detection in COCO results format. */
export interface CocoDetection {
  image_id: number;
  category_id: number;
  bbox: number[];
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
  stats: number[];
  named: Record<(typeof COCO_STAT_NAMES)[number], number>;
  /** Per category (area all, maxDets 100): AP, AP50, AP75, APs, APm, APl, AR100. */
  perCategory: Record<string, Record<string, number>>;
  /** precision[T][R][K][A][M] flattened C-order. */
  precision: Float64Array;
  /** recall[T][K][A][M] flattened C-order. */
  recall: Float64Array;
  dims: { T: number; R: number; K: number; A: number; M: number };
  params: CocoParams;
  catIds: number[];
}

interface GtEntry {
  id: number;
  box: number[];
  area: number;
  crowd: boolean;
  ignore: boolean;
}

interface DtEntry {
  id: number;
  box: number[];
  area: number;
  score: number;
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

function validateDetections(
  detections: CocoDetection[],
  imageIds: Set<number>,
  file: string,
): void {
  detections.forEach((d, i) => {
    const field = `[${i}]`;
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
    if (!Array.isArray(d.bbox) || d.bbox.length !== 4 || !d.bbox.every(Number.isFinite)) {
      throw new InputError("bbox must be 4 finite numbers [x, y, w, h]", {
        file,
        field: `${field}.bbox`,
        value: d.bbox,
      });
    }
    if (d.bbox[2] < 0 || d.bbox[3] < 0) {
      throw new InputError("bbox has a negative width or height", {
        file,
        field: `${field}.bbox`,
        value: d.bbox,
      });
    }
    if (typeof d.score !== "number" || !Number.isFinite(d.score)) {
      throw new InputError("score must be a finite number", {
        file,
        field: `${field}.score`,
        value: d.score,
      });
    }
  });
}

/**
 * Evaluates detections against COCO ground truth exactly as pycocotools does.
 *
 * @param files names for error messages
 */
export function evaluateCoco(
  gt: CocoGroundTruth,
  detections: CocoDetection[],
  params: Partial<CocoParams> = {},
  files: { gt?: string; dt?: string } = {},
): CocoEvalResult {
  const p: CocoParams = { ...defaultCocoParams(), ...params };
  const allImageIds = new Set(gt.images.map((i) => i.id));
  validateDetections(detections, allImageIds, files.dt ?? "(detections)");
  const imgIds = [...new Set(p.imgIds ?? gt.images.map((i) => i.id))].sort((a, b) => a - b);
  const catIds = [...new Set(p.catIds ?? gt.categories.map((c) => c.id))].sort((a, b) => a - b);
  const catIndex = new Map(catIds.map((c, k) => [c, k]));
  const imgIndex = new Map(imgIds.map((i, n) => [i, n]));
  const I = imgIds.length;
  const K = catIds.length;
  // (k * I + i) -> entries, in file order
  const gts = new Map<number, GtEntry[]>();
  for (const a of gt.annotations) {
    const k = catIndex.get(a.category_id);
    const i = imgIndex.get(a.image_id);
    if (k === undefined || i === undefined) continue;
    const key = k * I + i;
    let list = gts.get(key);
    if (!list) gts.set(key, list = []);
    const crowd = Boolean(a.iscrowd);
    // pycocotools: ignore = gt.ignore if present, then overwritten by iscrowd
    list.push({ id: a.id, box: a.bbox, area: a.area, crowd, ignore: crowd });
  }
  const dts = new Map<number, DtEntry[]>();
  detections.forEach((d, n) => {
    const k = catIndex.get(d.category_id);
    const i = imgIndex.get(d.image_id);
    if (k === undefined || i === undefined) return;
    const key = k * I + i;
    let list = dts.get(key);
    if (!list) dts.set(key, list = []);
    list.push({ id: n + 1, box: d.bbox, area: d.bbox[2] * d.bbox[3], score: d.score });
  });
  const T = p.iouThrs.length;
  const R = p.recThrs.length;
  const A = p.areaRng.length;
  const M = p.maxDets.length;
  const maxDetAll = p.maxDets[M - 1];
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const thresholds = p.iouThrs.map((t) => Math.min(t, 1 - 1e-10));
  for (let k = 0; k < K; k++) {
    // Cells (image, category) with GT or detections, in sorted image order. Detections are
    // sorted by score (stable) and cut to the largest maxDet; `offset` places them in the flat
    // per-category buffers.
    const cells: { g: GtEntry[]; d: DtEntry[]; ious: Float64Array; offset: number }[] = [];
    let total = 0;
    for (let i = 0; i < I; i++) {
      const g = gts.get(k * I + i);
      const dAll = dts.get(k * I + i);
      if (!g && !dAll) continue;
      const d = dAll
        ? (dAll.length > 1
          ? byScore(dAll.map((x) => x.score)).slice(0, maxDetAll).map((j) => dAll[j])
          : dAll)
        : [];
      const G = g?.length ?? 0;
      const ious = new Float64Array(d.length * G);
      for (let a = 0; a < d.length; a++) {
        for (let b = 0; b < G; b++) ious[a * G + b] = boxIou(d[a].box, g![b].box, g![b].crowd);
      }
      cells.push({ g: g ?? [], d, ious, offset: total });
      total += d.length;
    }
    if (cells.length === 0) continue;
    // One stable sort of all the category's detections by score; the maxDets cuts filter it
    // (a filtered stable order is the stable order of the subset).
    const flatScore = new Float64Array(total);
    const flatRank = new Int32Array(total);
    for (const cell of cells) {
      cell.d.forEach((x, j) => {
        flatScore[cell.offset + j] = x.score;
        flatRank[cell.offset + j] = j;
      });
    }
    const order = Array.from({ length: total }, (_, n) => n).sort((x, y) =>
      (flatScore[y] - flatScore[x]) || x - y
    );
    const matched = new Uint8Array(T * total);
    const ignored = new Uint8Array(T * total);
    let gtOrder = new Int32Array(16);
    let gtIgnore = new Uint8Array(16);
    let gtMatched = new Uint8Array(16 * T);
    for (let a = 0; a < A; a++) {
      const [lo, hi] = p.areaRng[a];
      matched.fill(0);
      ignored.fill(0);
      let npig = 0;
      for (const { g, d, ious, offset } of cells) {
        const G = g.length;
        const D = d.length;
        // GT order: not-ignored first (stable); reusable buffers avoid per-cell allocations
        if (gtOrder.length < G) {
          gtOrder = new Int32Array(G * 2);
          gtIgnore = new Uint8Array(G * 2);
          gtMatched = new Uint8Array(T * G * 2);
        }
        let position = 0;
        for (let pass = 0; pass < 2; pass++) {
          for (let j = 0; j < G; j++) {
            const ignore = g[j].ignore || g[j].area < lo || g[j].area > hi ? 1 : 0;
            if (ignore !== pass) continue;
            gtOrder[position] = j;
            gtIgnore[position++] = ignore;
            if (ignore === 0) npig++;
          }
        }
        if (G > 0 && D > 0) {
          gtMatched.fill(0, 0, T * G);
          for (let t = 0; t < T; t++) {
            for (let di = 0; di < D; di++) {
              let iou = thresholds[t];
              let m = -1;
              for (let gi = 0; gi < G; gi++) {
                const gOrig = gtOrder[gi];
                if (gtMatched[t * G + gi] && !g[gOrig].crowd) continue;
                if (m > -1 && gtIgnore[m] === 0 && gtIgnore[gi] === 1) break;
                const value = ious[di * G + gOrig];
                if (value < iou) continue;
                iou = value;
                m = gi;
              }
              if (m === -1) continue;
              ignored[t * total + offset + di] = gtIgnore[m];
              // a GT with id 0 can never count as a match (pycocotools stores ids, 0 = none)
              matched[t * total + offset + di] = g[gtOrder[m]].id !== 0 ? 1 : 0;
              gtMatched[t * G + m] = 1;
            }
          }
        }
        for (let di = 0; di < D; di++) {
          if (!(d[di].area < lo || d[di].area > hi)) continue;
          for (let t = 0; t < T; t++) {
            if (!matched[t * total + offset + di]) ignored[t * total + offset + di] = 1;
          }
        }
      }
      if (npig === 0) continue;
      // Recall only moves, and precision only rises, at true positives: the first detection
      // reaching a recall threshold is one, and the right-running maximum of precision is taken
      // over them. So record (recall, precision) at true positives only, with pycocotools'
      // divisions, and look the thresholds up among them.
      const tpRecall = new Float64Array(Math.max(1, npig));
      const tpPrecision = new Float64Array(Math.max(1, npig));
      for (let m = 0; m < M; m++) {
        const maxDet = p.maxDets[m];
        const kept = maxDet >= maxDetAll ? order : order.filter((n) => flatRank[n] < maxDet);
        const nd = kept.length;
        for (let t = 0; t < T; t++) {
          let tp = 0;
          let fp = 0;
          let count = 0;
          const base = t * total;
          for (let n = 0; n < nd; n++) {
            const index = base + kept[n];
            if (ignored[index]) continue;
            if (matched[index]) {
              tp++;
              tpRecall[count] = tp / npig;
              tpPrecision[count++] = tp / (fp + tp + 2.220446049250313e-16);
            } else fp++;
          }
          recall[((t * K + k) * A + a) * M + m] = nd ? tp / npig : 0;
          for (let c = count - 1; c > 0; c--) {
            if (tpPrecision[c] > tpPrecision[c - 1]) tpPrecision[c - 1] = tpPrecision[c];
          }
          let c = 0;
          for (let r = 0; r < R; r++) {
            while (c < count && tpRecall[c] < p.recThrs[r]) c++;
            precision[(((t * R + r) * K + k) * A + a) * M + m] = c < count ? tpPrecision[c] : 0;
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
