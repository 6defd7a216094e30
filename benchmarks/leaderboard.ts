/**
 * The ODinW leaderboard's prediction files (microsoft/GLIP README, "Submit Your Results to ODinW
 * Leaderboard"): zero- and full-shot runs give `{ "<dataset>": [COCO results] }`
 * (`all_predictions_zeroshot.json`); few-shot runs give `{ "<dataset>": { "<seed>": [COCO
 * results] } }` per shot count (`all_predictions_<k>_shot.json`). COCO results are
 * `{image_id, category_id, bbox: [x, y, w, h], score}` with the suite's box convention (GLIP's +1).
 *
 * The leaderboard scores the test split; files built from another split are written anyway and
 * the caller is told which tasks used which split.
 *
 * @module
 */
import { join } from "node:path";
import type { CocoDetection } from "./metrics/coco.ts";

/** Zero-/full-shot predictions by dataset name. */
export type ZeroShotSubmission = Record<string, CocoDetection[]>;
/** Few-shot predictions by dataset name, then seed. */
export type FewShotSubmission = Record<string, Record<string, CocoDetection[]>>;

/** File name of a submission: `all_predictions_zeroshot.json` or `all_predictions_<k>_shot.json`. */
export function submissionFileName(shots?: number | "all"): string {
  if (shots === undefined) return "all_predictions_zeroshot.json";
  if (shots === "all") return "all_predictions_fullshot.json";
  return `all_predictions_${shots}_shot.json`;
}

/** Drops fields the leaderboard does not define, keeping key order stable. */
function results(detections: CocoDetection[]): CocoDetection[] {
  return detections.map(({ image_id, category_id, bbox, score }) => ({
    image_id,
    category_id,
    bbox,
    score,
  }));
}

/** Writes a submission file under `dir` and returns its path. */
export async function writeSubmission(
  dir: string,
  submission: ZeroShotSubmission | FewShotSubmission,
  shots?: number | "all",
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const cleaned = Object.fromEntries(
    Object.entries(submission).map(([task, value]) => [
      task,
      Array.isArray(value) ? results(value) : Object.fromEntries(
        Object.entries(value as Record<string, CocoDetection[]>).map((
          [seed, d],
        ) => [seed, results(d)]),
      ),
    ]),
  );
  const path = join(dir, submissionFileName(shots));
  await Deno.writeTextFile(path, JSON.stringify(cleaned));
  return path;
}
