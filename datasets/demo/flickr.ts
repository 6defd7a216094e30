/**
 * A synthetic Flickr30K-Entities-shaped demo set, in the layout GLIP reads: images under
 * `flickr30k/flickr30k_images/<split>/`, MDETR's `mdetr_annotations/final_flickr_separateGT_<split>.json`
 * (one entry per image and sentence, with `tokens_positive_eval`), and the evaluator's ground
 * truth in `flickr30k/flickr30k/` (`<split>.txt`, `Annotations/<id>.xml`, `Sentences/<id>.txt`).
 *
 * Each image has two sentences: one naming every object ("a red circle and a blue square ."),
 * one naming the first object plus a phrase without boxes ("the picture"), which the evaluator
 * drops as the real data's non-visual phrases are dropped.
 *
 * @module
 */
import { encode as encodePng } from "fast-png";
import { join } from "node:path";
import { DEMO_IMAGE_SIZE, demoRandom, renderImage } from "./generate.ts";

/** Splits and images per split of the Flickr demo. */
export const FLICKR_DEMO_SPLITS = { val: 6, test: 6 } as const;

interface Phrase {
  words: string[];
  entityId: number;
  type: string;
}

/** A sentence in Flickr30K Entities markup, and its MDETR caption with the phrase spans. */
function sentence(parts: (string | Phrase)[], boxed: Set<number>) {
  const markup: string[] = [];
  const words: string[] = [];
  const spans: [number, number][][] = [];
  let length = 0;
  const push = (word: string) => {
    length += (words.length > 0 ? 1 : 0) + word.length;
    words.push(word);
  };
  for (const part of parts) {
    if (typeof part === "string") {
      markup.push(part);
      push(part);
      continue;
    }
    markup.push(`[/EN#${part.entityId}/${part.type} ${part.words.join(" ")}]`);
    const start = length + (words.length > 0 ? 1 : 0);
    for (const word of part.words) push(word);
    if (boxed.has(part.entityId)) spans.push([[start, length]]);
  }
  return { markup: markup.join(" "), caption: words.join(" "), spans };
}

/**
 * Writes the Flickr demo under `root` (same seed, same bytes; reused when present) and returns
 * the root, which the `flickr30k` suite reads as a data root.
 */
export async function generateFlickrDemo(
  root: string,
  options: { seed?: number } = {},
): Promise<string> {
  const seed = options.seed ?? 0;
  const stamp = join(root, "flickr30k", `.demo-seed-${seed}`);
  try {
    await Deno.stat(stamp);
    return root;
  } catch {
    // not generated yet
  }
  const entities = join(root, "flickr30k", "flickr30k");
  await Deno.mkdir(join(entities, "Annotations"), { recursive: true });
  await Deno.mkdir(join(entities, "Sentences"), { recursive: true });
  await Deno.mkdir(join(root, "mdetr_annotations"), { recursive: true });
  const { width, height } = DEMO_IMAGE_SIZE;
  let flickrId = 7000000;
  let entityId = 500;
  for (const [s, [split, count]] of Object.entries(FLICKR_DEMO_SPLITS).entries()) {
    const random = demoRandom(seed * 1000003 + 77 + s * 13);
    const imageDir = join(root, "flickr30k", "flickr30k_images", split);
    await Deno.mkdir(imageDir, { recursive: true });
    const ids: string[] = [];
    const entries = [];
    const annotations: Record<string, unknown>[] = [];
    let entryId = 0;
    for (let i = 0; i < count; i++) {
      const id = String(flickrId++);
      ids.push(id);
      const { rgb, objects } = renderImage(random);
      const fileName = `${id}.png`;
      await Deno.writeFile(
        join(imageDir, fileName),
        encodePng({ width, height, data: rgb, channels: 3, depth: 8 }),
      );
      const phrases: (Phrase & { box: number[] })[] = objects.map((o) => ({
        words: ["a", o.colour, o.shape],
        entityId: entityId++,
        type: `${o.shape}s`,
        box: o.box,
      }));
      const boxed = new Set(phrases.map((p) => p.entityId));
      const scene: Phrase = { words: ["the", "picture"], entityId: 0, type: "scene" };
      const sentences = [
        sentence(phrases.flatMap((p, k) => (k > 0 ? ["and", p] : [p])).concat(["."]), boxed),
        sentence(["There", "is", phrases[0], "in", scene, "."], boxed),
      ];
      await Deno.writeTextFile(
        join(entities, "Sentences", `${id}.txt`),
        sentences.map((x) => x.markup).join("\n") + "\n",
      );
      const xmlObjects = phrases.map((p) => {
        const [x, y, w, h] = p.box;
        return `<object><name>${p.entityId}</name><bndbox><xmin>${x}</xmin><ymin>${y}</ymin>` +
          `<xmax>${x + w - 1}</xmax><ymax>${y + h - 1}</ymax></bndbox></object>`;
      }).join("");
      await Deno.writeTextFile(
        join(entities, "Annotations", `${id}.xml`),
        `<annotation><filename>${id}.jpg</filename><size><width>${width}</width>` +
          `<height>${height}</height><depth>3</depth></size>${xmlObjects}</annotation>\n`,
      );
      for (const [sentenceId, { caption, spans }] of sentences.entries()) {
        entries.push({
          id: entryId,
          file_name: fileName,
          height,
          width,
          caption,
          dataset_name: "flickr",
          tokens_positive_eval: spans,
          sentence_id: sentenceId,
          original_img_id: Number(id),
        });
        // one box per evaluable phrase (the first object is the phrase of sentence 1)
        const named = sentenceId === 0 ? phrases : phrases.slice(0, 1);
        named.forEach((p, k) => {
          annotations.push({
            id: annotations.length + 1,
            image_id: entryId,
            bbox: p.box,
            area: p.box[2] * p.box[3],
            iscrowd: 0,
            category_id: 1,
            tokens_positive: spans[k],
            phrase_ids: p.entityId,
          });
        });
        entryId++;
      }
    }
    await Deno.writeTextFile(join(entities, `${split}.txt`), ids.join("\n") + "\n");
    await Deno.writeTextFile(
      join(root, "mdetr_annotations", `final_flickr_separateGT_${split}.json`),
      JSON.stringify({
        info: { description: `glip-bench Flickr30K demo ${split} (seed ${seed})` },
        images: entries,
        annotations,
        categories: [{ supercategory: "object", id: 1, name: "object" }],
      }),
    );
  }
  await Deno.writeTextFile(stamp, `${seed}\n`);
  return root;
}
