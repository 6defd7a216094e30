/**
 * Dataset cards and presence checks for the datasets registry (`deno task list datasets
 * --check`). Files are looked up in GLIP's layout under the data root.
 *
 * @module
 */
import { join } from "node:path";
import type { DatasetCheck, DatasetDefinition } from "./dataset.ts";
import { odinwTasks } from "./odinw.ts";
import { CITATIONS } from "../reports/reference_numbers.ts";

async function size(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return undefined;
  }
}

async function checkFiles(root: string, files: string[], howToGet: string): Promise<DatasetCheck> {
  const lines: string[] = [];
  let present = 0;
  for (const file of files) {
    const bytes = await size(join(root, file));
    if (bytes === undefined) lines.push(`missing  ${file}`);
    else {
      present++;
      lines.push(`present  ${file} (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
    }
  }
  if (present < files.length) lines.push(`get it: ${howToGet}`);
  return { present: present === files.length, lines };
}

/** The built-in datasets. */
export const DATASETS: Record<string, DatasetDefinition> = {
  odinw: {
    card: {
      name: "odinw",
      summary:
        "Object Detection in the Wild: 35 Roboflow tasks, 13 in ODinW-13 (GLIP's configs/odinw_13, odinw_35)",
      splits: ["train", "val", "minival (some tasks)", "test", "few-shot shot{k}_seed{s}"],
      quirks: [
        "annotation files are the annotations_without_background.json GLIP prepared (Roboflow's id-0 category removed)",
        "zero-shot evaluation uses val, or minival for EgoHands, Vehicles and 9 other ODinW-35 tasks (GLIP's README)",
        "PascalVOC's test split is its valid split",
      ],
      citation: CITATIONS.odinw,
    },
    check: (root) =>
      checkFiles(
        root,
        odinwTasks("odinw35").map((t) => t.splits[t.zeroShotSplit].annFile),
        "GLIP's odinw/download.py fetches the zips (huggingface.co/GLIPModel/GLIP, odinw_35); unpack them under DATA_ROOT/odinw",
      ),
  },
  coco: {
    card: {
      name: "coco",
      summary:
        "COCO 2017 detection: val2017 (5000 images, 80 categories) for GLIP's zero-shot COCO number",
      splits: ["val2017"],
      counts: { val2017: { images: 5000, categories: 80 } },
      citation: CITATIONS.coco,
    },
    check: (root) =>
      checkFiles(
        root,
        ["coco/annotations/instances_val2017.json", "coco/val2017"],
        "COCO 2017 val images and annotations from cocodataset.org, under DATA_ROOT/coco",
      ),
  },
  lvis: {
    card: {
      name: "lvis",
      summary:
        "LVIS v1: MDETR's 5k-image minival and val, 1203 categories, FixedAP with APr/APc/APf",
      splits: ["minival", "val"],
      quirks: [
        "GLIP evaluates 40-category chunks and keeps the top 10,000 detections per category (FixedAP)",
      ],
      citation: CITATIONS.lvis,
    },
    check: (root) =>
      checkFiles(
        root,
        [
          "coco/annotations/lvis_v1_minival_inserted_image_name.json",
          "coco/annotations/lvis_od_val.json",
        ],
        "LVIS v1 annotations (lvis_v1_minival_inserted_image_name.json is MDETR's minival) under DATA_ROOT/coco/annotations",
      ),
  },
  flickr30k: {
    card: {
      name: "flickr30k",
      summary: "Flickr30K Entities phrase grounding, val and test, recall@1/5/10 (ANY-BOX)",
      splits: ["val", "test"],
      counts: { val: { images: 1000 }, test: { images: 1000 } },
      citation: CITATIONS.flickr30k,
    },
    check: (root) =>
      checkFiles(
        root,
        [
          "flickr30k/flickr30k/test.txt",
          "flickr30k/flickr30k/Annotations",
          "flickr30k/flickr30k/Sentences",
        ],
        "the flickr30k_entities repository (Annotations, Sentences, splits) under DATA_ROOT/flickr30k/flickr30k",
      ),
  },
};
