/**
 * Metrics identical to the reference tools.
 * @module
 */
export * from "./coco.ts";
export { numpyMean, numpySum } from "./numpy_mean.ts";
export {
  evaluateLvis,
  fixedApDetections,
  limitDetectionsPerImage,
  type LvisEvalResult,
  type LvisGroundTruth,
} from "./lvis.ts";
export {
  evaluateFlickr30k,
  type FlickrPrediction,
  type FlickrRecall,
  type MdetrFlickrEntry,
  parseFlickrAnnotation,
  parseFlickrSentences,
  parseMdetrFlickr,
} from "./flickr30k.ts";
