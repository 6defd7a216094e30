/**
 * GLIP's k-shot sampling (fact sheet §5.2, §10.8), reproduced exactly:
 *
 * - `seeded` = `COCODataset` (`maskrcnn_benchmark/data/datasets/coco.py`): ids sorted, images without
 *   a valid box dropped, `random.Random(seed).shuffle(ids)` (seed 0 means no shuffle), then a greedy
 *   pass keeping an image when any of its categories still needs images; `cats_freq` has one slot
 *   per category and is indexed with `category_id - 1` (Python's negative indices included).
 * - `sorted` = `CocoGrounding` (`modulated_coco.py`, GLIP's README path): the same greedy pass over
 *   the sorted ids with no shuffle (every seed picks the same images); `cats_freq` has
 *   `max(category ids)` slots.
 *
 * Also GLIP's prepared `fewshot_train_shot{k}_seed{s}.json` files: their paths and a reader.
 *
 * @module
 */
import { join } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { unknownNameMessage } from "../core/did_you_mean.ts";
import { type CocoAnnotation, type CocoDataset, loadCocoJson } from "./coco_json.ts";
import type { OdinwTask } from "./odinw.ts";
import { PythonRandom } from "./python_random.ts";

/** Which of GLIP's two samplers. */
export type FewShotSampler = "seeded" | "sorted";

/** The sampler names, for flags and messages. */
export const FEW_SHOT_SAMPLERS: readonly FewShotSampler[] = ["seeded", "sorted"];

/**
 * Where the k-shot images of an adapting run come from: `sampled` (drawn by GLIP's sampler from
 * the full train split, per seed) or `prepared` (GLIP's own `fewshot_{train,val}_shot{k}_seed{s}.json`
 * files, `--use_prepared_data`: the ODinW challenge's official subsets, with model selection on
 * their k-shot val).
 */
export type KShotSource = "sampled" | "prepared";

/** The k-shot source names, for flags and messages. */
export const K_SHOT_SOURCES: readonly KShotSource[] = ["sampled", "prepared"];

/**
 * A task's prepared k-shot files as path patterns with `{shots}` and `{seed}`: `train` for
 * training, `val` for model selection (the task's val or minival split, as GLIP picks).
 */
export interface PreparedFewShotPatterns {
  /** Pattern of the k-shot train file. */
  train: string;
  /** Pattern of the k-shot val file (model selection). */
  val: string;
}

/** The prepared files of one (shots, seed) cell, both present. */
export interface PreparedFewShotCell {
  /** Path of the k-shot train file. */
  train: string;
  /** Path of the k-shot val file. */
  val: string;
}

/**
 * The prepared k-shot train and val files of one cell (GLIP's `train_{k}_{seed}` and
 * `val_{k}_{seed}` datasets), checked to exist. A task without them, or a missing file, is an
 * error naming the task or the file and how to get it.
 */
export async function preparedFewShotCell(
  task: { name: string; fewShotFiles?: PreparedFewShotPatterns },
  shots: number | "all",
  seed: number,
): Promise<PreparedFewShotCell> {
  if (shots === "all") {
    throw new UsageError(
      `--fewshot-source prepared: GLIP's prepared files are k-shot subsets; full-data tuning ` +
        `(--shots all) trains on the whole train split: use --fewshot-source sampled for it`,
    );
  }
  const patterns = task.fewShotFiles;
  if (!patterns) {
    throw new UsageError(
      `--fewshot-source prepared: task ${task.name} has no prepared k-shot files (GLIP ships them ` +
        `for ODinW tasks only); use --fewshot-source sampled`,
    );
  }
  const cell = {
    train: fillFewShotPattern(patterns.train, shots, seed),
    val: fillFewShotPattern(patterns.val, shots, seed),
  };
  for (const [split, path] of Object.entries(cell)) {
    let isFile = false;
    try {
      isFile = (await Deno.stat(path)).isFile;
    } catch {
      // reported below
    }
    if (!isFile) {
      throw new InputError(
        `task ${task.name}: GLIP's prepared ${shots}-shot ${split} file for seed ${seed} is missing ` +
          `(--fewshot-source prepared); get ODinW with its prepared files ('deno task data odinw'), ` +
          `make one with 'deno task fewshot', or run with --fewshot-source sampled`,
        { file: path },
      );
    }
  }
  return cell;
}

/** What the samplers read: image ids, and each annotation's image, category and box. */
export interface FewShotSource {
  /** The file the data came from, for error messages. */
  path: string;
  /** Every image id of the split. */
  images: { id: number }[];
  /** Every annotation: its image, category and box (xywh). */
  annotations: Pick<CocoAnnotation, "image_id" | "category_id" | "bbox">[];
  /** Every category id. */
  categories: { id: number }[];
}

/** Options of {@link sampleFewShot}. */
export interface FewShotOptions {
  /** `seeded` (COCODataset) or `sorted` (CocoGrounding). @default "seeded" */
  sampler?: FewShotSampler;
  /** The shuffle seed of the seeded sampler (0 = no shuffle, as in GLIP). Ignored by `sorted`. */
  seed?: number | bigint;
}

/**
 * GLIP's `has_valid_annotation`: at least one annotation, and not every box "empty" (a box is
 * empty when its width or height is <= 1).
 */
export function hasValidAnnotation(annotations: { bbox: number[] }[]): boolean {
  if (annotations.length === 0) return false;
  return !annotations.every((a) => a.bbox.slice(2).some((side) => side <= 1));
}

function groupByImage(source: FewShotSource): Map<number, FewShotSource["annotations"]> {
  const byImage = new Map<number, FewShotSource["annotations"]>();
  for (const annotation of source.annotations) {
    let list = byImage.get(annotation.image_id);
    if (!list) byImage.set(annotation.image_id, list = []);
    list.push(annotation);
  }
  return byImage;
}

/**
 * The image ids GLIP trains on for `shots` (k: "at least k images per category", >= 1), in GLIP's order (the shuffled order for `seeded`,
 * sorted ids for `sorted`).
 *
 * @example
 * ```ts
 * import { sampleFewShot } from "./fewshot.ts";
 * const box: [number, number, number, number] = [0, 0, 10, 10];
 * const source = {
 *   path: "train.json",
 *   images: [{ id: 3 }, { id: 1 }, { id: 2 }],
 *   annotations: [
 *     { image_id: 1, category_id: 1, bbox: box },
 *     { image_id: 2, category_id: 1, bbox: box },
 *     { image_id: 3, category_id: 2, bbox: box },
 *   ],
 *   categories: [{ id: 1 }, { id: 2 }],
 * };
 * console.assert(sampleFewShot(source, 1, { sampler: "sorted" }).join() === "1,3");
 * ```
 */
export function sampleFewShot(
  source: FewShotSource,
  shots: number,
  options: FewShotOptions = {},
): number[] {
  const { sampler = "seeded", seed = 0 } = options;
  if (!Number.isInteger(shots) || shots < 1) {
    throw new RangeError(`shots must be an integer >= 1 (got ${shots})`);
  }
  if (!FEW_SHOT_SAMPLERS.includes(sampler)) {
    throw new UsageError(unknownNameMessage("sampler", sampler, [...FEW_SHOT_SAMPLERS]));
  }
  const byImage = groupByImage(source);
  const ids = [...new Set(source.images.map((image) => image.id))].sort((a, b) => a - b)
    .filter((id) => hasValidAnnotation(byImage.get(id) ?? []));
  const categoryIds = [...new Set(source.categories.map((c) => c.id))];
  const slots = sampler === "seeded"
    ? categoryIds.length
    : Math.max(...categoryIds.map((id) => id));
  if (sampler === "seeded" && BigInt(seed) !== 0n) new PythonRandom(seed).shuffle(ids);
  const catsFreq: number[] = new Array(Math.max(0, slots)).fill(shots);
  const slotOf = (categoryId: number): number => {
    const index = categoryId - 1;
    const slot = index < 0 ? index + catsFreq.length : index;
    if (!Number.isInteger(categoryId) || slot < 0 || slot >= catsFreq.length) {
      throw new InputError(
        `GLIP's ${sampler} sampler indexes cats_freq[category_id - 1] with ${catsFreq.length} slot(s); ` +
          `this category id is out of range (Python raises IndexError)`,
        { file: source.path, field: "annotations[].category_id", value: categoryId },
      );
    }
    return slot;
  };
  const chosen: number[] = [];
  for (const id of ids) {
    const categories = new Set((byImage.get(id) ?? []).map((a) => a.category_id));
    const slotsOfImage = [...categories].map(slotOf);
    if (!slotsOfImage.some((slot) => catsFreq[slot] > 0)) continue;
    chosen.push(id);
    for (const slot of slotsOfImage) catsFreq[slot] -= 1;
  }
  return chosen;
}

/**
 * A COCO-format object holding only `imageIds` (in that order) and all their annotations (in file
 * order); categories and other top-level fields are kept. This is what GLIP's prepared few-shot
 * files contain.
 */
export function subsetCoco(dataset: CocoDataset, imageIds: number[]): Record<string, unknown> {
  const keep = new Set(imageIds);
  const raw = dataset.raw;
  const images = imageIds.map((id) => {
    const image = dataset.imageById.get(id);
    if (!image) {
      throw new InputError("image id not in 'images'", { file: dataset.path, value: id });
    }
    return image;
  });
  const annotations = ((raw.annotations ?? []) as CocoAnnotation[])
    .filter((a) => keep.has(a.image_id));
  return { ...raw, images, annotations, categories: raw.categories };
}

/** GLIP's prepared file name: `fewshot_{split}_shot{k}_seed{s}.json`. */
export function fewShotFileName(split: string, shots: number, seed: number | bigint): string {
  return `fewshot_${split}_shot${shots}_seed${seed}.json`;
}

/** Where GLIP keeps a task's prepared few-shot file (from the ODinW manifest). */
export function preparedFewShotPath(
  task: OdinwTask,
  split: string,
  shots: number,
  seed: number | bigint,
  root: string,
): string {
  const pattern = task.fewShotFiles[split];
  if (!pattern) {
    throw new UsageError(
      `ODinW task ${task.name} has no prepared few-shot files for '${split}' (it has ${
        Object.keys(task.fewShotFiles).join(", ")
      })`,
    );
  }
  return join(root, fillFewShotPattern(pattern, shots, seed));
}

/** A prepared-file pattern with `{shots}` and `{seed}` filled in. */
function fillFewShotPattern(pattern: string, shots: number, seed: number | bigint): string {
  return pattern.replaceAll("{shots}", String(shots)).replaceAll("{seed}", String(seed));
}

/**
 * Reads one of GLIP's prepared few-shot files (validated like any COCO file). A missing file is
 * an error that says where it looked and how to make it (`deno task fewshot`).
 */
export async function loadPreparedFewShot(
  task: OdinwTask,
  split: string,
  shots: number,
  seed: number | bigint,
  root: string,
): Promise<CocoDataset> {
  const path = preparedFewShotPath(task, split, shots, seed, root);
  try {
    await Deno.stat(path);
  } catch {
    throw new InputError(
      `GLIP's prepared ${shots}-shot file for seed ${seed} is missing; get it with ` +
        `'deno task data odinw' or make it with 'deno task fewshot --ann <${split} annotations> ` +
        `--shots ${shots} --seeds ${seed} --out <dir>'`,
      { file: path },
    );
  }
  return await loadCocoJson(path);
}
