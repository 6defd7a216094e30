/**
 * Phrase grounding (Flickr30K Entities) as GLIP evaluates it: MDETR's annotation entries (one per
 * image and sentence) each carry a caption, which is the prompt, and the character spans of its
 * evaluable phrases (label = phrase index + 1). After ATSS post-processing, GLIP's
 * `flickr_post_process` sorts all detections by score, buckets them by phrase and appends a
 * dummy `[0, 0, 0, 0]` box to every phrase; MDETR's recall evaluator then scores them.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { CocoDataset } from "../datasets/coco_json.ts";
import {
  type FlickrPrediction,
  type FlickrRecall,
  type MdetrFlickrEntry,
  parseMdetrFlickr,
} from "./metrics/flickr30k.ts";
import type { DetectionRow } from "./detection_store.ts";
import type { MetricResult } from "./run_record.ts";

/** An MDETR entry with the id the detection store keys it by. */
export interface GroundingEntry extends MdetrFlickrEntry {
  /** The entry's `id` in the annotation file (one per image and sentence). */
  entryId: number;
}

/** Reads the grounding entries of an MDETR-format annotation file, in file order. */
export function groundingEntries(dataset: CocoDataset): GroundingEntry[] {
  const raw = dataset.raw as { images: { id: number }[] };
  return parseMdetrFlickr(raw, dataset.path).map((entry, i) => ({
    ...entry,
    entryId: raw.images[i].id,
  }));
}

/**
 * Groups entries by image file, in order of their smallest entry id, so the image backbone runs
 * once per image for all its sentences.
 */
export function entriesByImage(entries: GroundingEntry[]): GroundingEntry[][] {
  const groups = new Map<string, GroundingEntry[]>();
  for (const entry of [...entries].sort((a, b) => a.entryId - b.entryId)) {
    let group = groups.get(entry.fileName);
    if (!group) groups.set(entry.fileName, group = []);
    group.push(entry);
  }
  return [...groups.values()];
}

/**
 * GLIP's `flickr_post_process` on stored rows (`[x1, y1, x2, y2, score, label]`, boxes already at
 * the original image size): all detections sorted by score (descending, ties in stored order),
 * bucketed by phrase, each bucket ending with the dummy box `[0, 0, 0, 0]`.
 */
export function flickrPrediction(
  entry: GroundingEntry,
  rows: DetectionRow[],
  file = "(detections)",
): FlickrPrediction {
  const phrases = entry.phraseSpans.length;
  const boxes: number[][][] = Array.from({ length: phrases }, () => []);
  const order = rows.map((_, i) => i).sort((a, b) => rows[b][4] - rows[a][4] || a - b);
  for (const i of order) {
    const [x1, y1, x2, y2, , label] = rows[i];
    if (!Number.isInteger(label) || label < 1 || label > phrases) {
      throw new InputError(`label ${label} is not a phrase of entry ${entry.entryId}`, {
        file,
        field: `image_id ${entry.entryId}`,
        value: label,
      });
    }
    boxes[label - 1].push([x1, y1, x2, y2]);
  }
  for (const bucket of boxes) bucket.push([0, 0, 0, 0]);
  return { image_id: entry.imageId, sentence_id: entry.sentenceId, boxes };
}

/** MDETR's recall table as a run-record metric: headline R@1, named R@1/5/10/UB, by phrase type. */
export function groundingMetric(recall: FlickrRecall): MetricResult {
  const name = (k: string) => (k === "-1" ? "R@UB" : `R@${k}`);
  const named: Record<string, number> = {};
  const byType: Record<string, Record<string, number>> = {};
  for (const [k, table] of Object.entries(recall)) {
    named[name(k)] = table.all ?? -1;
    for (const [type, value] of Object.entries(table)) {
      if (type === "all") continue;
      (byType[type] ??= {})[name(k)] = value;
    }
  }
  return { metric: "flickr30k", headline: named["R@1"] ?? -1, named, byType };
}
