/**
 * The `flickr30k` suite: Flickr30K Entities phrase grounding as GLIP evaluates it (GLIP-FACTS
 * §4.3). Each (image, sentence) entry of MDETR's `final_flickr_separateGT_<split>.json` is one
 * prompt (the caption, uncleaned) whose evaluable phrases are labels 1..P; ATSS keeps the top
 * 100 detections (threshold 0.05, NMS 0.6) at the loaded image size; MDETR's evaluator scores
 * R@1/5/10 and the upper bound, ANY-BOX (`FLICKR_GT_TYPE separate`), IoU without +1. The image
 * backbone runs once per image for all of its sentences (GLIP re-runs it per sentence; the
 * numbers cannot differ).
 *
 * Layout under the data root (GLIP's `paths_catalog.py` and `build_flickr_evaluator`):
 * `mdetr_annotations/final_flickr_separateGT_{val,test}.json`,
 * `flickr30k/flickr30k_images/{val,test}/`, and `flickr30k/flickr30k/` (flickr30k_entities:
 * `{val,test}.txt`, `Annotations/`, `Sentences/`).
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../../core/errors.ts";
import { DATASETS } from "../../datasets/cards.ts";
import type { DetectionSuite, DetectionTask, SuiteOptions } from "../suite.ts";
import { pathExists } from "../../core/fs.ts";

const SPLITS = ["val", "test"] as const;
type FlickrSplit = (typeof SPLITS)[number];

/** The annotation file of a split. */
export function flickrAnnotationFile(root: string, split: FlickrSplit): string {
  return join(root, "mdetr_annotations", `final_flickr_separateGT_${split}.json`);
}

/** One split as a task (ANY-BOX unless `merged`). */
export function flickrTask(root: string, split: FlickrSplit, merged = false): DetectionTask {
  return {
    name: split,
    dataset: "flickr30k",
    split,
    annotationFile: flickrAnnotationFile(root, split),
    imageRoot: join(root, "flickr30k", "flickr30k_images", split),
    metric: "flickr30k",
    grounding: { entitiesRoot: join(root, "flickr30k", "flickr30k"), subset: split, merged },
    names: [],
    categoryIds: [],
    separator: ". ",
    detectionsPerImage: 100,
    boxConvention: "flickr",
    originalSizeFrom: "image",
    card: DATASETS.flickr30k.card,
  };
}

/** The `flickr30k` suite: val and test by default, `--split val|test` for one. */
export const flickr30kSuite: DetectionSuite = {
  kind: "detection",
  name: "flickr30k",
  summary: "Flickr30K Entities phrase grounding (val and test): R@1/5/10, ANY-BOX",
  defaults: { split: "val,test" },
  present: async (root) =>
    (await pathExists(flickrAnnotationFile(root, "val"))) ||
    pathExists(flickrAnnotationFile(root, "test")),
  async tasks(options: SuiteOptions): Promise<DetectionTask[]> {
    const requested = options.split ? options.split.split(",").map((s) => s.trim()) : [...SPLITS];
    const tasks: DetectionTask[] = [];
    for (const split of requested) {
      if (!SPLITS.includes(split as FlickrSplit)) {
        throw new UsageError(`flickr30k: --split is val, test or val,test (got '${split}')`);
      }
      const task = flickrTask(options.dataRoot, split as FlickrSplit);
      for (
        const [path, what] of [
          [task.annotationFile, "MDETR's annotations ('deno task data flickr30k')"],
          [join(task.grounding!.entitiesRoot, `${split}.txt`), "the flickr30k_entities split list"],
          [task.imageRoot, "the Flickr30K images (they need a request form; see 'deno task data')"],
        ]
      ) {
        if (!(await pathExists(path))) {
          throw new UsageError(`flickr30k: ${path} is missing: ${what}`);
        }
      }
      tasks.push(task);
    }
    if (options.tasks) {
      throw new UsageError("flickr30k: the tasks are the splits; use --split val|test");
    }
    return tasks;
  },
};
