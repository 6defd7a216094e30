/**
 * The `coco` and `lvis` suites, as GLIP evaluates them (GLIP-FACTS §4.1, §4.2, §10.7):
 *
 * - `coco`: val2017, the 80 names in one prompt joined by ". ", 100 detections per image, COCO
 *   boxes with GLIP's +1, rescaled with the JSON image size; COCO AP.
 * - `lvis`: MDETR's minival (default) or val; the raw LVIS names (cleaned by GLIP's clean_name)
 *   in chunks of 40 with one prompt and full forward per chunk, 300 detections per image per
 *   chunk, boxes without +1 rescaled with the loaded image size; FixedAP: the global top 10,000
 *   detections per category, no per-image cap, then LVIS AP with APr/APc/APf.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../../core/errors.ts";
import { loadCocoJson } from "../../datasets/coco_json.ts";
import { DATASETS } from "../../datasets/cards.ts";
import type { DetectionSuite, DetectionTask, SuiteOptions } from "../suite.ts";
import { pathExists } from "../../core/fs.ts";

/** The `coco` suite. */
export const cocoSuite: DetectionSuite = {
  kind: "detection",
  name: "coco",
  summary: "COCO val2017 zero-shot detection with GLIP's 80-name prompt",
  defaults: { split: "val2017" },
  present: (root) => pathExists(join(root, "coco", "annotations", "instances_val2017.json")),
  async tasks(options: SuiteOptions): Promise<DetectionTask[]> {
    const split = options.split ?? "val2017";
    if (split !== "val2017") {
      throw new UsageError(`coco: the suite evaluates val2017 (got --split ${split})`);
    }
    const annotationFile = join(options.dataRoot, "coco", "annotations", "instances_val2017.json");
    const dataset = await loadCocoJson(annotationFile);
    return [{
      name: "val2017",
      dataset: "coco",
      split,
      annotationFile,
      imageRoot: join(options.dataRoot, "coco", "val2017"),
      metric: "coco",
      names: dataset.categories.map((c) => c.name),
      categoryIds: dataset.categories.map((c) => c.id),
      separator: ". ",
      detectionsPerImage: 100,
      boxConvention: "coco",
      originalSizeFrom: "json",
      card: DATASETS.coco.card,
    }];
  },
};

const LVIS_FILES: Record<string, string> = {
  minival: "lvis_v1_minival_inserted_image_name.json",
  val: "lvis_od_val.json",
};

/** The `lvis` suite. */
export const lvisSuite: DetectionSuite = {
  kind: "detection",
  name: "lvis",
  summary: "LVIS v1 minival (MDETR's 5k images) or val: 40-name chunks, FixedAP, APr/APc/APf",
  defaults: { split: "minival" },
  present: async (root) =>
    (await pathExists(join(root, "coco", "annotations", LVIS_FILES.minival))) ||
    pathExists(join(root, "coco", "annotations", LVIS_FILES.val)),
  async tasks(options: SuiteOptions): Promise<DetectionTask[]> {
    const split = options.split ?? "minival";
    const file = LVIS_FILES[split];
    if (!file) throw new UsageError(`lvis: --split is minival or val (got '${split}')`);
    const annotationFile = join(options.dataRoot, "coco", "annotations", file);
    const dataset = await loadCocoJson(annotationFile);
    return [{
      name: split,
      dataset: "lvis",
      split,
      annotationFile,
      imageRoot: join(options.dataRoot, "coco"),
      metric: "lvis",
      names: dataset.categories.map((c) => c.name),
      labels: dataset.categories.map((c) => c.id),
      categoryIds: dataset.categories.map((c) => c.id),
      separator: ". ",
      chunkSize: 40,
      detectionsPerImage: 300,
      boxConvention: "lvis",
      fixedApTopK: 10000,
      originalSizeFrom: "image",
      card: DATASETS.lvis.card,
    }];
  },
};
