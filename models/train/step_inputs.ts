/**
 * The per-image inputs of a train step graph, shared by the trainers: GLIP's batch normalizers
 * and the loss feeds built from one image's ATSS targets.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { levelAnchors } from "../post/anchors.ts";
import type { GlipArchitecture } from "../glip/config.ts";
import type { LevelSizes } from "./prompt_tuning_graph.ts";
import { atssTargets, type ImageTargets, lossBoxTensors, type TargetBox } from "./targets.ts";

/** An image's anchors and targets for one set of level sizes. */
export interface ImageStepTargets {
  levels: LevelSizes;
  anchors: Float32Array[];
  targets: ImageTargets;
}

/** Anchors and ATSS targets of one image. */
export function imageStepTargets(
  arch: GlipArchitecture,
  levels: LevelSizes,
  boxes: TargetBox[],
): ImageStepTargets {
  const { anchorStrides, anchorSizes } = arch.postprocess;
  const anchors = levels.map(([h, w], i) => levelAnchors(h, w, anchorStrides[i], anchorSizes[i]));
  return { levels, anchors, targets: atssTargets(anchors, boxes, arch.maxQueryLength) };
}

/**
 * GLIP's divisors over a batch: 1/max(#pos, 1) for the token and centerness losses, 2.0 over the
 * sum of centerness targets for the box loss (0 without positives).
 */
export function batchNormalizers(batch: ImageTargets[]): Float32Array {
  const positives = batch.reduce((s, t) => s + t.positiveCount, 0);
  const centerness = batch.reduce((s, t) => s + t.centernessSum, 0);
  return Float32Array.of(
    1 / Math.max(positives, 1),
    positives > 0 ? 2 / centerness : 0,
    1 / Math.max(positives, 1),
  );
}

/** The loss inputs of a step graph for one image. */
export function lossFeeds(
  step: ImageStepTargets,
  normalizers: Float32Array,
): Record<string, ort.Tensor> {
  const { targets } = step;
  const N = targets.anchorCount;
  const T = targets.tokenCount;
  const boxes = lossBoxTensors(step.anchors, targets);
  return {
    token_targets: new ort.Tensor("float32", targets.tokenTargets, [1, N, T]),
    anchor_geometry: new ort.Tensor("float32", boxes.anchorGeometry, [N, 4]),
    target_boxes: new ort.Tensor("float32", boxes.targetBoxes, [N, 4]),
    centerness_targets: new ort.Tensor("float32", targets.centernessTargets, [N]),
    positive: new ort.Tensor("float32", targets.positive, [N]),
    loss_normalizers: new ort.Tensor("float32", normalizers, [3]),
  };
}
