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
import type { HeadOutput } from "../../engines/engine.ts";
import type { PostprocessSettings } from "../bundle.ts";
import { levelAnchors } from "./anchors.ts";

/** Detections of one image. */
export interface Detections {
  count: number;
  /** xyxy in original-image pixels, [count * 4]. */
  boxes: Float32Array;
  /** xyxy in resized-image pixels, [count * 4]. */
  boxesResized: Float32Array;
  scores: Float32Array;
  /** 1-based labels of the prompt. */
  labels: Int32Array;
}

/** Image sizes for clipping and rescaling. */
export interface DetectionSizes {
  resized: { width: number; height: number };
  original: { width: number; height: number };
}

const f = Math.fround;
const CLIP = Math.log(1000 / 16);

function sigmoid(x: number): number {
  return f(1 / (1 + Math.exp(-x)));
}

interface Candidate {
  level: number;
  location: number;
  label: number;
  /** score x centerness (ranking key within the level). */
  product: number;
}

/**
 * Class scores of every location of a level for the labels of a positive map. Returns a
 * [locations x labels] array (labels in the map's key order).
 */
function classScores(
  logits: Float32Array,
  locations: number,
  tokens: number,
  labelTokens: number[][],
  aggregation: "MEAN" | "MAX",
): Float32Array {
  const scores = new Float32Array(locations * labelTokens.length);
  for (let i = 0; i < locations; i++) {
    const row = i * tokens;
    for (let j = 0; j < labelTokens.length; j++) {
      const list = labelTokens[j];
      if (list.length === 0) continue;
      let value: number;
      if (aggregation === "MAX") {
        value = 0;
        for (const t of list) value = Math.max(value, sigmoid(logits[row + t]));
      } else {
        let sum = 0;
        for (const t of list) sum = f(sum + sigmoid(logits[row + t]));
        value = f(sum / list.length);
      }
      scores[i * labelTokens.length + j] = value;
    }
  }
  return scores;
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
 * Runs ATSS post-processing on one image's head outputs.
 *
 * @param positiveMap label -> token indices (labels with no tokens score 0)
 */
export function postprocessAtss(
  head: HeadOutput,
  positiveMap: Map<number, number[]>,
  settings: PostprocessSettings,
  sizes: DetectionSizes,
): Detections {
  const labels = [...positiveMap.keys()].sort((a, b) => a - b);
  const labelTokens = labels.map((label) => positiveMap.get(label) ?? []);
  const width = sizes.resized.width;
  const height = sizes.resized.height;
  // Per level: candidates, top-k, decode.
  const boxes: number[] = [];
  const scores: number[] = [];
  const outLabels: number[] = [];
  head.levels.forEach((level, l) => {
    const locations = level.height * level.width;
    const classes = classScores(
      level.tokenLogits,
      locations,
      head.tokenCount,
      labelTokens,
      settings.scoreAggregation,
    );
    const candidates: Candidate[] = [];
    for (let i = 0; i < locations; i++) {
      const centerness = sigmoid(level.centerness[i]);
      for (let j = 0; j < labels.length; j++) {
        const score = classes[i * labels.length + j];
        if (score > settings.scoreThreshold) {
          candidates.push({
            level: l,
            location: i,
            label: labels[j],
            product: f(score * centerness),
          });
        }
      }
    }
    // top-k by score x centerness; ties keep the (location, label) order of torch.nonzero
    const k = Math.min(candidates.length, settings.preNmsTopN);
    const order = candidates.map((_, i) => i).sort((a, b) =>
      candidates[b].product - candidates[a].product || a - b
    )
      .slice(0, k);
    const anchors = levelAnchors(
      level.height,
      level.width,
      settings.anchorStrides[l],
      settings.anchorSizes[l],
    );
    const [wx, wy, ww, wh] = settings.boxCoderWeights;
    const plane = locations;
    for (const index of order) {
      const c = candidates[index];
      const i = c.location;
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
      scores.push(f(Math.sqrt(c.product)));
      outLabels.push(c.label);
    }
  });
  const count = scores.length;
  const boxArray = Float32Array.from(boxes);
  // class-wise NMS: visit by score (stable), suppress same-label boxes with IoU > threshold
  const byScore = Array.from({ length: count }, (_, i) => i).sort((a, b) =>
    scores[b] - scores[a] || a - b
  );
  const suppressed = new Uint8Array(count);
  const kept: number[] = [];
  for (let a = 0; a < byScore.length; a++) {
    const i = byScore[a];
    if (suppressed[i]) continue;
    kept.push(i);
    for (let b = a + 1; b < byScore.length; b++) {
      const j = byScore[b];
      if (
        !suppressed[j] && outLabels[j] === outLabels[i] &&
        iouPlusOne(boxArray, i, j) > settings.nmsThreshold
      ) {
        suppressed[j] = 1;
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
