/**
 * COCO test-dev: the suite runs the images of `image_info_test-dev2017.json` (no annotations, so
 * no metric can be computed locally) and writes the results file the COCO evaluation server
 * takes: `detections_test-dev2017_<alg>_results.json` (a list of `{image_id, category_id, bbox,
 * score}`), zipped alone at the top of `detections_test-dev2017_<alg>_results.zip`.
 *
 * @module
 */
import { join } from "node:path";
import { zipSync } from "fflate";
import { writeFileAtomic } from "../core/atomic_file.ts";
import type { CocoDetection } from "./metrics/coco.ts";
import type { DetectionTask } from "./suite.ts";

/** The split name of COCO test-dev in `--split`. */
export const COCO_TEST_DEV_SPLIT = "test-dev";

/** The image info file of test-dev (under `coco/annotations/`). */
export const COCO_TEST_DEV_INFO = "image_info_test-dev2017.json";

/** What a run record says about a split scored only by the evaluation server. */
export const SERVER_ONLY_NOTE =
  "COCO test-dev has no public annotations: no metric is computed locally; submit the zipped " +
  "results file to the COCO evaluation server (codalab) for AP";

/** Whether a task's split is scored only by the COCO evaluation server. */
export function isServerEvaluated(task: Pick<DetectionTask, "dataset" | "split">): boolean {
  return task.dataset === "coco" && task.split === COCO_TEST_DEV_SPLIT;
}

/**
 * The server's algorithm name from a model label: letters, digits and `-` only (the server
 * splits the file name on `_`).
 */
export function serverAlgorithmName(label: string): string {
  const name = label.replace(/[^A-Za-z0-9-]+/g, "-").replace(/^-+|-+$/g, "");
  return name || "glip";
}

/** `detections_test-dev2017_<alg>_results.json`. */
export function testDevResultsName(algorithm: string): string {
  return `detections_test-dev2017_${serverAlgorithmName(algorithm)}_results.json`;
}

/**
 * Writes the server's results file, zipped (`<name>.zip` holding `<name>.json`), into `dir`;
 * returns the zip's path. Only the four fields the server reads are kept.
 */
export async function writeTestDevSubmission(
  dir: string,
  algorithm: string,
  detections: CocoDetection[],
): Promise<string> {
  const jsonName = testDevResultsName(algorithm);
  const results = detections.map(({ image_id, category_id, bbox, score }) => ({
    image_id,
    category_id,
    bbox,
    score,
  }));
  const zip = zipSync({ [jsonName]: new TextEncoder().encode(JSON.stringify(results)) }, {
    level: 6,
  });
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, jsonName.replace(/\.json$/, ".zip"));
  await writeFileAtomic(path, zip);
  return path;
}
