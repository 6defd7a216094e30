/**
 * LVIS bbox evaluation identical to lvis-api 0.5.3 `LVISEval`: the per-image top-`maxDets`
 * cut across categories (none with -1), the federated rules (a detection counts only when its
 * category is in the image's negatives or has ground truth there; unmatched detections of
 * not-exhaustive categories are ignored), no crowd handling, and AP by frequency group
 * (APr/APc/APf). Also GLIP's FixedAP preparation: the global top 10,000 detections per
 * category with no per-image cap.
 *
 * @module
 */
import { InputError } from "../../core/errors.ts";
import { boxIou, byScore, type CocoDetection, linspace } from "./coco.ts";
import { numpyMean } from "./numpy_mean.ts";

/** LVIS ground truth (the parts the evaluator reads). */
export interface LvisGroundTruth {
  /** Images, with LVIS's per-image negative and not-exhaustive category lists. */
  images: { id: number; neg_category_ids?: number[]; not_exhaustive_category_ids?: number[] }[];
  /** Ground-truth boxes, COCO xywh. */
  annotations: {
    id: number;
    image_id: number;
    category_id: number;
    bbox: number[];
    area: number;
  }[];
  /** Categories, with LVIS's frequency group (rare, common, frequent) for APr/APc/APf. */
  categories: { id: number; frequency?: "r" | "c" | "f" }[];
}

/** Result of an LVIS evaluation. */
export interface LvisEvalResult {
  /** Keys exactly as lvis-api names them (`AR@300`, or `AR@-1` with maxDets -1). */
  results: Record<string, number>;
  /** AP and AP50 per category, keyed by category id. */
  perCategory: Record<string, { AP: number; AP50: number }>;
}

/** lvis-api's `limit_dets_per_image`: per image, the top `maxDets` by score (stable); -1 keeps all. */
export function limitDetectionsPerImage(
  detections: CocoDetection[],
  maxDets: number,
): CocoDetection[] {
  if (maxDets < 0) return detections;
  const byImage = new Map<number, CocoDetection[]>();
  for (const d of detections) {
    let list = byImage.get(d.image_id);
    if (!list) byImage.set(d.image_id, list = []);
    list.push(d);
  }
  const out: CocoDetection[] = [];
  for (const list of byImage.values()) {
    if (list.length <= maxDets) out.push(...list);
    else out.push(...byScore(list.map((d) => d.score)).slice(0, maxDets).map((i) => list[i]));
  }
  return out;
}

/**
 * GLIP's FixedAP preparation (`LvisEvaluatorFixedAP`): keep the `topK` highest-scoring
 * detections of each category over the whole dataset, with no per-image cap.
 */
export function fixedApDetections(detections: CocoDetection[], topK = 10000): CocoDetection[] {
  const byCategory = new Map<number, CocoDetection[]>();
  for (const d of detections) {
    let list = byCategory.get(d.category_id);
    if (!list) byCategory.set(d.category_id, list = []);
    list.push(d);
  }
  const out: CocoDetection[] = [];
  for (const list of byCategory.values()) {
    out.push(
      ...(list.length <= topK
        ? list
        : byScore(list.map((d) => d.score)).slice(0, topK).map((i) => list[i])),
    );
  }
  return out;
}

/** The per-image fields of LVIS ground truth that the federated rules read. */
export const LVIS_IMAGE_FIELDS = ["neg_category_ids", "not_exhaustive_category_ids"] as const;

/**
 * Refuses ground truth that is not LVIS: every image must list `neg_category_ids` and
 * `not_exhaustive_category_ids` (lvis-api raises a KeyError without them). Without them a
 * false positive would count as "unverified" and vanish, so a COCO file would score too high.
 */
export function checkLvisGroundTruth(gt: LvisGroundTruth, file = "(ground truth)"): void {
  for (const field of LVIS_IMAGE_FIELDS) {
    const lacking = gt.images.filter((image) => !Array.isArray(image?.[field]));
    if (lacking.length > 0) {
      throw new InputError(
        `not LVIS ground truth: ${lacking.length} of ${gt.images.length} images lack ${field}` +
          ` (LVIS images list ${LVIS_IMAGE_FIELDS.join(" and ")}; use 'eval coco' for COCO files)`,
        {
          file,
          field: `images[${gt.images.indexOf(lacking[0])}].${field}`,
          value: lacking[0]?.[field],
        },
      );
    }
  }
}

/**
 * Evaluates detections as lvis-api does. `maxDets` 300 by default; -1 for no per-image cap.
 * Ground truth without LVIS's per-image fields is refused ({@link checkLvisGroundTruth}).
 *
 * @example One exact detection on a frequent category
 * ```ts
 * import { evaluateLvis } from "./lvis.ts";
 * import assert from "node:assert/strict";
 *
 * const gt = {
 *   images: [{ id: 1, neg_category_ids: [], not_exhaustive_category_ids: [] }],
 *   annotations: [{ id: 1, image_id: 1, category_id: 3, bbox: [0, 0, 10, 10], area: 100 }],
 *   categories: [{ id: 3, frequency: "f" as const }],
 * };
 * const result = evaluateLvis(gt, [{ image_id: 1, category_id: 3, bbox: [0, 0, 10, 10], score: 1 }]);
 * assert.ok(Math.abs(result.results.AP - 1) < 1e-9);
 * assert.ok(Math.abs(result.results.APf - 1) < 1e-9);
 * ```
 */
export function evaluateLvis(
  gt: LvisGroundTruth,
  detectionsIn: CocoDetection[],
  options: { maxDets?: number; file?: string; gtFile?: string } = {},
): LvisEvalResult {
  checkLvisGroundTruth(gt, options.gtFile);
  const maxDets = options.maxDets ?? 300;
  const imageIds = gt.images.map((i) => i.id).sort((a, b) => a - b);
  const imageSet = new Set(imageIds);
  detectionsIn.forEach((d, i) => {
    if (!imageSet.has(d.image_id)) {
      throw new InputError("detection for an image that is not in the ground truth", {
        file: options.file ?? "(detections)",
        field: `[${i}].image_id`,
        value: d.image_id,
      });
    }
    if (!Number.isFinite(d.score)) {
      throw new InputError("score must be a finite number", {
        file: options.file ?? "(detections)",
        field: `[${i}].score`,
        value: d.score,
      });
    }
  });
  const limited = limitDetectionsPerImage(detectionsIn, maxDets).map((d, i) => ({
    ...d,
    id: i + 1,
    area: d.bbox[2] * d.bbox[3],
  }))
    .filter((d) => d.area > 0);
  const catIds = gt.categories.map((c) => c.id).sort((a, b) => a - b);
  const catIndex = new Map(catIds.map((c, k) => [c, k]));
  const I = imageIds.length;
  const imgIndex = new Map(imageIds.map((id, i) => [id, i]));
  const K = catIds.length;
  const gts = new Map<number, { id: number; box: number[]; area: number }[]>();
  const positives = new Map<number, Set<number>>();
  for (const a of gt.annotations) {
    const k = catIndex.get(a.category_id);
    const i = imgIndex.get(a.image_id);
    if (k === undefined || i === undefined) continue;
    let list = gts.get(k * I + i);
    if (!list) gts.set(k * I + i, list = []);
    list.push({ id: a.id, box: a.bbox, area: a.area });
    let set = positives.get(a.image_id);
    if (!set) positives.set(a.image_id, set = new Set());
    set.add(a.category_id);
  }
  const negatives = new Map(gt.images.map((i) => [i.id, new Set(i.neg_category_ids ?? [])]));
  const notExhaustive = new Map(
    gt.images.map((i) => [i.id, new Set(i.not_exhaustive_category_ids ?? [])]),
  );
  const dts = new Map<
    number,
    { id: number; box: number[]; area: number; score: number; category: number; image: number }[]
  >();
  for (const d of limited) {
    const k = catIndex.get(d.category_id);
    const i = imgIndex.get(d.image_id)!;
    if (k === undefined) continue;
    if (
      !negatives.get(d.image_id)!.has(d.category_id) &&
      !positives.get(d.image_id)?.has(d.category_id)
    ) continue;
    let list = dts.get(k * I + i);
    if (!list) dts.set(k * I + i, list = []);
    list.push({
      id: d.id,
      box: d.bbox,
      area: d.area,
      score: d.score,
      category: d.category_id,
      image: d.image_id,
    });
  }
  const iouThrs = linspace(0.5, 0.95, 10);
  const recThrs = linspace(0, 1, 101);
  const areaRng: [number, number][] = [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [
    96 ** 2,
    1e10,
  ]];
  const T = iouThrs.length, R = recThrs.length, A = areaRng.length;
  const precision = new Float64Array(T * R * K * A).fill(-1);
  const recall = new Float64Array(T * K * A).fill(-1);
  for (let k = 0; k < K; k++) {
    const cells: ({
      g: { id: number; box: number[]; area: number }[];
      d: {
        id: number;
        box: number[];
        area: number;
        score: number;
        category: number;
        image: number;
      }[];
      ious: Float64Array;
    } | null)[] = [];
    for (let i = 0; i < I; i++) {
      const g = gts.get(k * I + i) ?? [];
      const dAll = dts.get(k * I + i) ?? [];
      if (g.length === 0 && dAll.length === 0) {
        cells.push(null);
        continue;
      }
      const d = byScore(dAll.map((x) => x.score)).map((j) => dAll[j]);
      const ious = new Float64Array(d.length * g.length);
      for (let a = 0; a < d.length; a++) {
        for (let b = 0; b < g.length; b++) {
          ious[a * g.length + b] = boxIou(d[a].box, g[b].box, false);
        }
      }
      cells.push({ g, d, ious });
    }
    for (let a = 0; a < A; a++) {
      const [lo, hi] = areaRng[a];
      const evals = cells.map((cell) => {
        if (!cell) return null;
        const { g, d, ious } = cell;
        const G = g.length, D = d.length;
        const ignoreRaw = g.map((x) => x.area < lo || x.area > hi);
        const order = g.map((_, j) => j).sort((x, y) =>
          Number(ignoreRaw[x]) - Number(ignoreRaw[y]) || x - y
        );
        const gtIgnore = Uint8Array.from(order, (j) => (ignoreRaw[j] ? 1 : 0));
        const dtMatched = new Uint8Array(T * D);
        const dtIgnore = new Uint8Array(T * D);
        const gtMatched = new Uint8Array(T * G);
        if (G > 0) {
          for (let t = 0; t < T; t++) {
            for (let di = 0; di < D; di++) {
              let iou = Math.min(iouThrs[t], 1 - 1e-10);
              let m = -1;
              for (let gi = 0; gi < G; gi++) {
                if (gtMatched[t * G + gi]) continue;
                if (m > -1 && gtIgnore[m] === 0 && gtIgnore[gi] === 1) break;
                const value = ious[di * G + order[gi]];
                if (value < iou) continue;
                iou = value;
                m = gi;
              }
              if (m === -1) continue;
              dtIgnore[t * D + di] = gtIgnore[m];
              dtMatched[t * D + di] = g[order[m]].id !== 0 ? 1 : 0;
              gtMatched[t * G + m] = 1;
            }
          }
        }
        for (let di = 0; di < D; di++) {
          const x = d[di];
          const mask = x.area < lo || x.area > hi || notExhaustive.get(x.image)!.has(x.category);
          if (!mask) continue;
          for (let t = 0; t < T; t++) if (!dtMatched[t * D + di]) dtIgnore[t * D + di] = 1;
        }
        return { scores: d.map((x) => x.score), dtMatched, dtIgnore, gtIgnore, D };
      }).filter((e) => e !== null);
      if (evals.length === 0) continue;
      let numGt = 0;
      for (const e of evals) for (const v of e!.gtIgnore) if (v === 0) numGt++;
      if (numGt === 0) continue;
      const scores: number[] = [];
      const owners: [number, number][] = [];
      evals.forEach((e, n) =>
        e!.scores.forEach((s, j) => {
          scores.push(s);
          owners.push([n, j]);
        })
      );
      const ranked = byScore(scores);
      const nd = ranked.length;
      for (let t = 0; t < T; t++) {
        let tp = 0, fp = 0;
        const rc = new Float64Array(nd);
        const pr = new Array<number>(nd);
        for (let n = 0; n < nd; n++) {
          const [e, j] = owners[ranked[n]];
          const entry = evals[e]!;
          const matched = entry.dtMatched[t * entry.D + j];
          const ignored = entry.dtIgnore[t * entry.D + j];
          if (matched && !ignored) tp++;
          if (!matched && !ignored) fp++;
          rc[n] = tp / numGt;
          pr[n] = tp / (fp + tp + 2.220446049250313e-16);
        }
        recall[(t * K + k) * A + a] = nd ? rc[nd - 1] : 0;
        for (let n = nd - 1; n > 0; n--) if (pr[n] > pr[n - 1]) pr[n - 1] = pr[n];
        let n = 0;
        for (let r = 0; r < R; r++) {
          while (n < nd && rc[n] < recThrs[r]) n++;
          precision[((t * R + r) * K + k) * A + a] = n < nd ? pr[n] : 0;
        }
      }
    }
  }
  const groups: number[][] = [[], [], []];
  catIds.forEach((id, k) => {
    const frequency = gt.categories.find((c) => c.id === id)?.frequency;
    const g = ["r", "c", "f"].indexOf(frequency ?? "");
    if (g >= 0) groups[g].push(k);
  });
  const summarize = (ap: boolean, opts: { iou?: number; area?: number; cats?: number[] } = {}) => {
    const a = opts.area ?? 0;
    const ts = opts.iou === undefined
      ? iouThrs.map((_, t) => t)
      : iouThrs.flatMap((v, t) => (v === opts.iou ? [t] : []));
    const ks = opts.cats ?? catIds.map((_, k) => k);
    const values: number[] = [];
    for (const t of ts) {
      if (ap) {
        for (let r = 0; r < R; r++) {
          for (const k of ks) {
            const v = precision[((t * R + r) * K + k) * A + a];
            if (v > -1) values.push(v);
          }
        }
      } else {
        for (const k of ks) {
          const v = recall[(t * K + k) * A + a];
          if (v > -1) values.push(v);
        }
      }
    }
    return values.length ? numpyMean(values) : -1;
  };
  const results: Record<string, number> = {
    AP: summarize(true),
    AP50: summarize(true, { iou: 0.5 }),
    AP75: summarize(true, { iou: 0.75 }),
    APs: summarize(true, { area: 1 }),
    APm: summarize(true, { area: 2 }),
    APl: summarize(true, { area: 3 }),
    APr: summarize(true, { cats: groups[0] }),
    APc: summarize(true, { cats: groups[1] }),
    APf: summarize(true, { cats: groups[2] }),
    [`AR@${maxDets}`]: summarize(false),
    [`ARs@${maxDets}`]: summarize(false, { area: 1 }),
    [`ARm@${maxDets}`]: summarize(false, { area: 2 }),
    [`ARl@${maxDets}`]: summarize(false, { area: 3 }),
  };
  const perCategory: LvisEvalResult["perCategory"] = {};
  catIds.forEach((id, k) => {
    perCategory[String(id)] = {
      AP: summarize(true, { cats: [k] }),
      AP50: summarize(true, { iou: 0.5, cats: [k] }),
    };
  });
  return { results, perCategory };
}
