/**
 * Metrics identical to the reference tools: COCO box AP as pycocotools computes it, LVIS AP
 * (with FixedAP's per-category cap) as lvis-api does, and Flickr30K Entities recall as GLIP's
 * (MDETR's) evaluator does. Each takes parsed ground truth and detections, so results can be
 * re-scored without running a model.
 *
 * @example COCO AP of one detection
 * ```ts
 * import { evaluateCoco } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const gt = {
 *   images: [{ id: 1 }],
 *   annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100 }],
 *   categories: [{ id: 1 }],
 * };
 * const result = evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [1, 1, 10, 10], score: 0.9 }]);
 * // IoU 81/119 = 0.68: a hit at the thresholds 0.5 to 0.65, a miss from 0.7 on
 * assert.ok(Math.abs(result.named.AP50 - 1) < 1e-9);
 * assert.ok(Math.abs(result.named.AP - 0.4) < 1e-9);
 * ```
 *
 * @example A streaming evaluator: process batches as they come, evaluate once
 * ```ts
 * import { CocoEvaluator } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const evaluator = new CocoEvaluator({
 *   images: [{ id: 1 }, { id: 2 }],
 *   annotations: [
 *     { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100 },
 *     { id: 2, image_id: 2, category_id: 1, bbox: [5, 5, 10, 10], area: 100 },
 *   ],
 *   categories: [{ id: 1 }],
 * });
 * evaluator.process([{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 }]);
 * evaluator.process([{ image_id: 2, category_id: 1, bbox: [5, 5, 10, 10], score: 0.8 }]);
 * assert.ok(Math.abs(evaluator.evaluate().named.AP - 1) < 1e-9);
 * ```
 *
 * @module
 */
export {
  COCO_STAT_NAMES,
  type CocoDetection,
  type CocoEvalResult,
  CocoEvaluator,
  type CocoGroundTruth,
  type CocoParams,
  defaultCocoParams,
  evaluateCoco,
  type UndeclaredCategories,
  undeclaredCategories,
} from "./coco.ts";
export {
  checkLvisGroundTruth,
  evaluateLvis,
  fixedApDetections,
  limitDetectionsPerImage,
  type LvisEvalResult,
  type LvisGroundTruth,
} from "./lvis.ts";
export {
  evaluateFlickr30k,
  type FlickrOptions,
  type FlickrPhrase,
  type FlickrPrediction,
  type FlickrRecall,
  type MdetrFlickrEntry,
  parseFlickrAnnotation,
  parseFlickrSentences,
  parseMdetrFlickr,
} from "./flickr30k.ts";
