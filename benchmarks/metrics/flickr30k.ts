/**
 * Flickr30K Entities phrase-grounding recall@k identical to MDETR's
 * `Flickr30kEntitiesRecallEvaluator` (the file GLIP copies): the dataset's `Sentences/*.txt`
 * and `Annotations/*.xml` parsed the same way, phrases without boxes dropped, IoU without +1,
 * a hit at k when any of the first k boxes reaches IoU 0.5 with any ground-truth box of the
 * phrase (ANY-BOX, GLIP's protocol) or with their enclosing box (MERGED-BOXES), recall overall
 * and per phrase type for k = 1, 5, 10 and -1 (all boxes: the upper bound).
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../../core/errors.ts";

/** One phrase of a sentence. */
export interface FlickrPhrase {
  /** Index of the phrase's first word in the sentence. */
  firstWordIndex: number;
  /** The phrase's words, joined by spaces. */
  phrase: string;
  /** The Flickr30K Entities id linking the phrase to its boxes. */
  phraseId: string;
  /** Entity types (`people`, `animals`, ...), for recall by type. */
  phraseTypes: string[];
}

/** Parses a `Sentences/<image>.txt` file (one sentence per line, phrases in [/EN#id/type ...]). */
export function parseFlickrSentences(
  text: string,
): { sentence: string; phrases: FlickrPhrase[] }[] {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const words: string[] = [];
    const phrases: FlickrPhrase[] = [];
    let current: string[] = [];
    let open: { first: number; id: string; types: string[] } | null = null;
    for (let token of line.split(/\s+/).filter((t) => t.length > 0)) {
      if (open) {
        if (token.endsWith("]")) {
          token = token.slice(0, -1);
          current.push(token);
          phrases.push({
            firstWordIndex: open.first,
            phrase: current.join(" "),
            phraseId: open.id,
            phraseTypes: open.types,
          });
          current = [];
          open = null;
        } else {
          current.push(token);
        }
        words.push(token);
      } else if (token.startsWith("[")) {
        const parts = token.split("/");
        open = { first: words.length, id: parts[1].slice(3), types: parts.slice(2) };
      } else {
        words.push(token);
      }
    }
    out.push({ sentence: words.join(" "), phrases });
  }
  return out;
}

/** Parses an `Annotations/<image>.xml` file: boxes [xmin, ymin, xmax, ymax] by phrase id. */
export function parseFlickrAnnotation(xml: string, file = "(xml)"): Map<string, number[][]> {
  const boxes = new Map<string, number[][]>();
  for (const object of xml.matchAll(/<object>([\s\S]*?)<\/object>/g)) {
    const body = object[1];
    const box = /<bndbox>([\s\S]*?)<\/bndbox>/.exec(body);
    if (!box) continue;
    const coordinate = (tag: string) => {
      const match = new RegExp(`<${tag}>\\s*(-?\\d+)\\s*</${tag}>`).exec(box[1]);
      if (!match) {
        throw new InputError(`bndbox without ${tag}`, { file, value: box[1].slice(0, 80) });
      }
      return Number(match[1]);
    };
    const coordinates = [
      coordinate("xmin"),
      coordinate("ymin"),
      coordinate("xmax"),
      coordinate("ymax"),
    ];
    for (const name of body.matchAll(/<name>\s*([^<]*?)\s*<\/name>/g)) {
      let list = boxes.get(name[1]);
      if (!list) boxes.set(name[1], list = []);
      list.push(coordinates);
    }
  }
  return boxes;
}

function mergeBoxes(boxes: number[][]): number[][] {
  if (boxes.length === 1) return boxes;
  return [[
    Math.min(...boxes.map((b) => b[0])),
    Math.min(...boxes.map((b) => b[1])),
    Math.max(...boxes.map((b) => b[2])),
    Math.max(...boxes.map((b) => b[3])),
  ]];
}

/** IoU of xyxy boxes without +1 (MDETR's `box_iou`). */
function iou(a: number[], b: number[]): number {
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  const w = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0);
  const h = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const inter = w * h;
  return inter / (areaA + areaB - inter);
}

/** One prediction: ranked xyxy boxes for each evaluable phrase of a sentence. */
export interface FlickrPrediction {
  /** The Flickr30K image id. */
  image_id: string | number;
  /** Index of the sentence in the image's `Sentences/<image>.txt`. */
  sentence_id: number;
  /** Per evaluable phrase, its boxes (xyxy) ranked best first. */
  boxes: number[][][];
}

/** Recall by k ("1", "5", "10", "-1") and by phrase type ("all" included). */
export type FlickrRecall = Record<string, Record<string, number>>;

/** Options of {@link evaluateFlickr30k}. */
export interface FlickrOptions {
  /** The Flickr30K Entities folder (`<subset>.txt`, `Annotations/`, `Sentences/`). */
  root: string;
  /** Which subset's image list to evaluate. */
  subset: "test" | "val" | "train";
  /** MERGED-BOXES instead of ANY-BOX. @default false */
  merged?: boolean;
  /** Recall@k values to compute; -1 means every box. @default [1, 5, 10, -1] */
  topK?: number[];
  /** IoU at which a box hits a phrase. @default 0.5 */
  iouThreshold?: number;
  /** Only these images of the subset (a smoke run); default: the whole subset, as MDETR. */
  images?: string[];
}

/** Evaluates phrase-grounding predictions as MDETR's evaluator does. */
export async function evaluateFlickr30k(
  predictions: FlickrPrediction[],
  options: FlickrOptions,
): Promise<FlickrRecall> {
  const topK = options.topK ?? [1, 5, 10, -1];
  const threshold = options.iouThreshold ?? 0.5;
  const listFile = join(options.root, `${options.subset}.txt`);
  let list: string;
  try {
    list = await Deno.readTextFile(listFile);
  } catch (error) {
    throw new InputError(`cannot read the subset list (${(error as Error).message})`, {
      file: listFile,
    });
  }
  let imageIds = list.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
  if (options.images) {
    const listed = new Set(imageIds);
    const unknown = options.images.filter((id) => !listed.has(id));
    if (unknown.length > 0) {
      throw new InputError(`image(s) not in the ${options.subset} subset: ${unknown.slice(0, 5)}`, {
        file: listFile,
      });
    }
    const wanted = new Set(options.images);
    imageIds = imageIds.filter((id) => wanted.has(id));
  }
  const boxesOf = new Map<string, Map<string, number[][]>>();
  const sentencesOf = new Map<string, (FlickrPhrase[] | null)[]>();
  const allIds = new Set<string>();
  for (const id of imageIds) {
    const xmlFile = join(options.root, "Annotations", `${id}.xml`);
    let boxes = parseFlickrAnnotation(await Deno.readTextFile(xmlFile), xmlFile);
    if (options.merged) boxes = new Map([...boxes].map(([k, v]) => [k, mergeBoxes(v)]));
    boxesOf.set(id, boxes);
    const sentences = parseFlickrSentences(
      await Deno.readTextFile(join(options.root, "Sentences", `${id}.txt`)),
    );
    const kept = sentences.map((s) => {
      const phrases = s.phrases.filter((p) => boxes.has(p.phraseId));
      return phrases.length > 0 ? phrases : null;
    });
    sentencesOf.set(id, kept);
    kept.forEach((phrases, k) => phrases && allIds.add(`${id}_${k}`));
  }
  const total = new Map<number, Map<string, number>>(topK.map((k) => [k, new Map()]));
  const positive = new Map<number, Map<string, number>>(topK.map((k) => [k, new Map()]));
  const add = (k: number, category: string, hit: boolean) => {
    total.get(k)!.set(category, (total.get(k)!.get(category) ?? 0) + 1);
    positive.get(k)!.set(category, (positive.get(k)!.get(category) ?? 0) + (hit ? 1 : 0));
  };
  const evaluated = new Set<string>();
  predictions.forEach((prediction, index) => {
    const key = `${prediction.image_id}_${prediction.sentence_id}`;
    if (evaluated.has(key) || !allIds.has(key)) return;
    evaluated.add(key);
    const phrases = sentencesOf.get(String(prediction.image_id))![prediction.sentence_id]!;
    if (prediction.boxes.length !== phrases.length) {
      throw new InputError(
        `expected boxes for ${phrases.length} phrases, got ${prediction.boxes.length}`,
        {
          file: "(predictions)",
          field: `[${index}].boxes`,
        },
      );
    }
    phrases.forEach((phrase, p) => {
      const targets = boxesOf.get(String(prediction.image_id))!.get(phrase.phraseId)!;
      const ranked = prediction.boxes[p];
      const best = (count: number) => {
        let max = 0;
        for (const box of ranked.slice(0, count)) {
          for (const target of targets) max = Math.max(max, iou(box, target));
        }
        return max;
      };
      for (const k of topK) {
        const hit = best(k === -1 ? ranked.length : k) >= threshold;
        add(k, "all", hit);
        for (const type of phrase.phraseTypes) add(k, type, hit);
      }
    });
  });
  const missing = [...allIds].filter((id) => !evaluated.has(id));
  if (missing.length > 0) {
    throw new InputError(
      `predictions are missing for ${missing.length} sentence(s), e.g. ${
        missing.slice(0, 5).join(", ")
      } (image_sentence)`,
      {
        file: "(predictions)",
      },
    );
  }
  const report: FlickrRecall = {};
  for (const k of topK) {
    report[String(k)] = Object.fromEntries(
      [...total.get(k)!].map(([category, n]) => [category, positive.get(k)!.get(category)! / n]),
    );
  }
  return report;
}

/** One (image, sentence) entry of MDETR's `final_flickr_separateGT_{val,test}.json`. */
export interface MdetrFlickrEntry {
  /** Flickr30K image id (`original_img_id`). */
  imageId: string;
  /** Index of the sentence within the image's sentences. */
  sentenceId: number;
  /** The sentence, used as the caption prompt. */
  caption: string;
  /** Image file name (relative to the Flickr30K images folder). */
  fileName: string;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** Character spans of each evaluable phrase (`tokens_positive_eval`); label = index + 1 (GLIP's plus=1). */
  phraseSpans: [number, number][][];
}

/**
 * Reads MDETR's Flickr30K annotation file, which GLIP's Flickr dataset uses for its prompts:
 * one "image" per (image, sentence) with the caption and `tokens_positive_eval`.
 */
export function parseMdetrFlickr(data: unknown, file: string): MdetrFlickrEntry[] {
  const images = (data as { images?: unknown })?.images;
  if (!Array.isArray(images)) {
    throw new InputError("expected an object with an 'images' list", { file });
  }
  return images.map((raw, i) => {
    const image = raw as Record<string, unknown>;
    const field = (name: string) => `images[${i}].${name}`;
    if (typeof image.caption !== "string") {
      throw new InputError("caption must be a string", {
        file,
        field: field("caption"),
        value: image.caption,
      });
    }
    if (!Number.isInteger(image.sentence_id)) {
      throw new InputError("sentence_id must be an integer", {
        file,
        field: field("sentence_id"),
        value: image.sentence_id,
      });
    }
    if (image.original_img_id === undefined) {
      throw new InputError("original_img_id is missing", { file, field: field("original_img_id") });
    }
    const spans = image.tokens_positive_eval;
    const valid = Array.isArray(spans) &&
      spans.every((phrase) =>
        Array.isArray(phrase) &&
        phrase.every((s) => Array.isArray(s) && s.length === 2 && s.every(Number.isInteger))
      );
    if (!valid) {
      throw new InputError(
        "tokens_positive_eval must be a list of [[start, end], ...] per phrase",
        { file, field: field("tokens_positive_eval"), value: spans },
      );
    }
    return {
      imageId: String(image.original_img_id),
      sentenceId: image.sentence_id as number,
      caption: image.caption,
      fileName: String(image.file_name ?? `${image.original_img_id}.jpg`),
      width: Number(image.width),
      height: Number(image.height),
      phraseSpans: spans as [number, number][][],
    };
  });
}
