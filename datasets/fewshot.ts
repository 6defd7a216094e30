/**
 * GLIP's k-shot sampling, both implementations (GLIP-FACTS §5.2, §10.8):
 *
 * - `seeded` (`COCODataset`): sorted image ids, images without a valid box dropped, then
 *   `random.Random(seed).shuffle`, then a greedy pass keeping an image when any of its
 *   categories still needs images ("at least k images per category"), with the category
 *   counters sized by the number of categories.
 * - `sorted` (`CocoGrounding`, what the README's `_grounding` training path uses): the same
 *   greedy pass over the sorted ids, no shuffle (the seed is ignored), counters sized by the
 *   largest category id.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { CocoDataset } from "./coco_json.ts";
import { PythonRandom } from "./python_random.ts";

/** Which sampler. */
export type FewShotSampler = "seeded" | "sorted";

/** maskrcnn_benchmark's `has_valid_annotation` for boxes: some box wider and taller than 1 pixel. */
function hasValidAnnotation(boxes: number[][]): boolean {
  if (boxes.length === 0) return false;
  return !boxes.every((bbox) => bbox[2] <= 1 || bbox[3] <= 1);
}

/**
 * The image ids GLIP's sampler selects, in selection order.
 *
 * @param shots k (images per category, at least)
 * @param seed the shuffle seed (`seeded` only; 0 means no shuffle, as in GLIP)
 */
export function sampleFewShot(
  dataset: CocoDataset,
  shots: number,
  options: { sampler: FewShotSampler; seed?: number | bigint },
): number[] {
  if (!Number.isInteger(shots) || shots < 1) {
    throw new RangeError(`shots must be a positive integer (got ${shots})`);
  }
  let ids = dataset.images.map((i) => i.id).sort((a, b) => a - b);
  ids = ids.filter((id) =>
    hasValidAnnotation((dataset.annotationsByImage.get(id) ?? []).map((a) => a.bbox))
  );
  const categoryIds = dataset.categories.map((c) => c.id);
  const size = options.sampler === "seeded" ? categoryIds.length : Math.max(...categoryIds);
  const counters = new Array<number>(size).fill(shots);
  if (options.sampler === "seeded" && options.seed !== undefined && BigInt(options.seed) !== 0n) {
    new PythonRandom(options.seed).shuffle(ids);
  }
  const chosen: number[] = [];
  for (const id of ids) {
    const categories = new Set(
      (dataset.annotationsByImage.get(id) ?? []).map((a) => a.category_id),
    );
    const slot = (c: number) => {
      // Python's list[c - 1]: negative indices wrap, past the end raises
      const index = c - 1 < 0 ? size + c - 1 : c - 1;
      if (index < 0 || index >= size) {
        throw new InputError(
          `category id ${c} is outside GLIP's counters (size ${size}, ${options.sampler} sampler)`,
          { file: dataset.path },
        );
      }
      return index;
    };
    let needed = 0;
    for (const c of categories) if (counters[slot(c)] > 0) needed++;
    if (needed === 0) continue;
    chosen.push(id);
    for (const c of categories) counters[slot(c)]--;
  }
  return chosen;
}

/** A COCO JSON restricted to some images (GLIP-compatible `fewshot_train_shot{k}_seed{s}.json`). */
export function subsetCoco(dataset: CocoDataset, imageIds: number[]): Record<string, unknown> {
  const keep = new Set(imageIds);
  const raw = dataset.raw as { images: { id: number }[]; annotations?: { image_id: number }[] };
  return {
    ...dataset.raw,
    images: raw.images.filter((i) => keep.has(i.id)),
    annotations: (raw.annotations ?? []).filter((a) => keep.has(a.image_id)),
  };
}
