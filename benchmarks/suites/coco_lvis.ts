/**
 * The `coco` and `lvis` suites, as GLIP evaluates them (GLIP-FACTS §4.1, §4.2, §10.7):
 *
 * - `coco`: val2017, the 80 names in one prompt joined by ". ", 100 detections per image, COCO
 *   boxes with GLIP's +1, rescaled with the JSON image size; COCO AP. `--split test-dev` runs
 *   the test-dev image info file and leaves scoring to the evaluation server
 *   (benchmarks/coco_test_dev.ts).
 * - `lvis`: MDETR's minival (default) or val; the raw LVIS names (cleaned by GLIP's clean_name)
 *   in chunks of 40 with one prompt and full forward per chunk, 300 detections per image per
 *   chunk, boxes without +1 rescaled with the loaded image size; FixedAP: the global top 10,000
 *   detections per category, no per-image cap, then LVIS AP with APr/APc/APf.
 *
 * @module
 */
import { join } from "node:path";
import { InputError, UsageError } from "../../core/errors.ts";
import { COCO_TEST_DEV_INFO, COCO_TEST_DEV_SPLIT } from "../coco_test_dev.ts";
import { loadCocoJson } from "../../datasets/coco_json.ts";
import { DATASETS } from "../../datasets/cards.ts";
import type { DetectionSuite, DetectionTask, SuiteOptions } from "../suite.ts";
import { pathExists } from "../../core/fs.ts";

/** The COCO splits: val2017 (scored here) and test-dev (scored by the evaluation server). */
const COCO_SPLITS: Record<string, { info: string; images: string; name: string }> = {
  val2017: { info: "instances_val2017.json", images: "val2017", name: "val2017" },
  [COCO_TEST_DEV_SPLIT]: { info: COCO_TEST_DEV_INFO, images: "test2017", name: "test-dev2017" },
};

/** The `coco` suite. */
export const cocoSuite: DetectionSuite = {
  kind: "detection",
  name: "coco",
  summary:
    "COCO val2017 zero-shot detection with GLIP's 80-name prompt (--split test-dev: a server submission)",
  defaults: { split: "val2017" },
  present: async (root) =>
    (await pathExists(join(root, "coco", "annotations", COCO_SPLITS.val2017.info))) ||
    pathExists(join(root, "coco", "annotations", COCO_TEST_DEV_INFO)),
  async tasks(options: SuiteOptions): Promise<DetectionTask[]> {
    const split = options.split ?? "val2017";
    const files = COCO_SPLITS[split];
    if (!files) {
      throw new UsageError(
        `coco: --split is val2017 or ${COCO_TEST_DEV_SPLIT} (got '${split}')`,
      );
    }
    const annotationFile = join(options.dataRoot, "coco", "annotations", files.info);
    if (!(await pathExists(annotationFile))) {
      throw new UsageError(
        `coco: --split ${split} needs ${annotationFile} (with the images in ${
          join(options.dataRoot, "coco", files.images)
        }); get it from cocodataset.org (${
          split === COCO_TEST_DEV_SPLIT ? "2017 Testing Image info" : "2017 Train/Val annotations"
        })`,
      );
    }
    const dataset = await loadCocoJson(annotationFile);
    if (split === COCO_TEST_DEV_SPLIT && dataset.annotations.length > 0) {
      throw new InputError(
        "test-dev has no public annotations; this file has some, so it is not COCO's test-dev " +
          "image info",
        { file: annotationFile, field: "annotations", value: dataset.annotations.length },
      );
    }
    return [{
      name: files.name,
      dataset: "coco",
      split,
      annotationFile,
      imageRoot: join(options.dataRoot, "coco", files.images),
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
