/**
 * COCO-format annotation files: loading with validation (every error names the file, the field
 * with its index, and the value), Roboflow's background category removed as GLIP's
 * `annotations_without_background.json` expect, LVIS fields kept, and image files checked all
 * at once before any inference.
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { parseJsonText } from "../core/json.ts";

/** One image entry. */
export interface CocoImage {
  /** Unique image id. */
  id: number;
  /** Image file, relative to the split's image folder. */
  file_name: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** LVIS: categories verified absent from the image. */
  neg_category_ids?: number[];
  /** LVIS: categories whose annotation in the image may be incomplete. */
  not_exhaustive_category_ids?: number[];
  /** Optional caption (the demo set's grounding text). */
  caption?: string;
  /** Other fields of the file, kept as they are. */
  [key: string]: unknown;
}

/** One annotation. */
export interface CocoAnnotation {
  /** Unique annotation id. */
  id: number;
  /** The image the box is in. */
  image_id: number;
  /** The box's category. */
  category_id: number;
  /** The box as COCO xywh: left, top, width, height. */
  bbox: [number, number, number, number];
  /** Object area in pixels² (COCO's size ranges use it). */
  area: number;
  /** 1 for a crowd region, else 0. */
  iscrowd: number;
  /** Other fields of the file, kept as they are. */
  [key: string]: unknown;
}

/** One category. */
export interface CocoCategory {
  /** Category id. */
  id: number;
  /** Category name, as the file spells it. */
  name: string;
  /** Parent category, where the file gives one. */
  supercategory?: string;
  /** LVIS: r (rare), c (common), f (frequent). */
  frequency?: "r" | "c" | "f";
}

/** A loaded, validated COCO-format file. */
export interface CocoDataset {
  /** The file it was loaded from. */
  path: string;
  /** Images in file order. */
  images: CocoImage[];
  /** Annotations in file order. */
  annotations: CocoAnnotation[];
  /** Categories sorted by id (background removed). */
  categories: CocoCategory[];
  /** Images by id. */
  imageById: Map<number, CocoImage>;
  /** Annotations by image id, in file order. */
  annotationsByImage: Map<number, CocoAnnotation[]>;
  /** The raw object, for evaluators that take COCO JSON. */
  raw: Record<string, unknown>;
  /** Whether a background category (id 0) was removed. */
  removedBackground: boolean;
}

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value);
}

/**
 * Parses JSON text; a syntax error names the file, line and column, and nesting deeper than
 * core/json.ts MAX_JSON_DEPTH is refused (with its line and column) before parsing.
 */
export const parseJsonFile: (text: string, file: string) => unknown = parseJsonText;

/**
 * Validates parsed COCO JSON. Options: `removeBackground` drops a category with id 0 (and its
 * annotations), as GLIP's ODinW files were prepared.
 */
export function validateCoco(
  data: unknown,
  file: string,
  options: { removeBackground?: boolean } = {},
): CocoDataset {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new InputError("expected a JSON object with images, annotations and categories", {
      file,
    });
  }
  const raw = data as Record<string, unknown>;
  for (const key of ["images", "categories"]) {
    if (!Array.isArray(raw[key])) {
      throw new InputError(`missing or invalid '${key}' list`, {
        file,
        field: key,
        value: raw[key],
      });
    }
  }
  const annotationsRaw = raw.annotations ?? [];
  if (!Array.isArray(annotationsRaw)) {
    throw new InputError("'annotations' must be a list", { file, field: "annotations" });
  }
  let categories = (raw.categories as unknown[]).map((value, i) => {
    const c = value as CocoCategory;
    if (!c || !isInt(c.id)) {
      throw new InputError("category id must be an integer", {
        file,
        field: `categories[${i}].id`,
        value: c?.id,
      });
    }
    if (typeof c.name !== "string") {
      throw new InputError("category name must be a string", {
        file,
        field: `categories[${i}].name`,
        value: c.name,
      });
    }
    return c;
  });
  const removedBackground = Boolean(options.removeBackground) && categories.some((c) => c.id === 0);
  if (removedBackground) categories = categories.filter((c) => c.id !== 0);
  categories.sort((a, b) => a.id - b.id);
  const categoryIds = new Set(categories.map((c) => c.id));
  const images = (raw.images as unknown[]).map((value, i) => {
    const image = value as CocoImage;
    if (!image || !isInt(image.id)) {
      throw new InputError("image id must be an integer", {
        file,
        field: `images[${i}].id`,
        value: image?.id,
      });
    }
    if (typeof image.file_name !== "string" && typeof image.coco_url === "string") {
      // LVIS lists images by coco_url (".../val2017/000000397133.jpg"): derive split/file
      image.file_name = (image.coco_url as string).split("/").slice(-2).join("/");
    }
    if (typeof image.file_name !== "string") {
      throw new InputError("file_name must be a string", {
        file,
        field: `images[${i}].file_name`,
        value: image.file_name,
      });
    }
    for (const key of ["width", "height"] as const) {
      if (!(typeof image[key] === "number" && image[key] > 0)) {
        throw new InputError(`${key} must be a positive number`, {
          file,
          field: `images[${i}].${key}`,
          value: image[key],
        });
      }
    }
    return image;
  });
  const imageById = new Map<number, CocoImage>();
  images.forEach((image, i) => {
    if (imageById.has(image.id)) {
      throw new InputError("duplicate image id", {
        file,
        field: `images[${i}].id`,
        value: image.id,
      });
    }
    imageById.set(image.id, image);
  });
  const annotations: CocoAnnotation[] = [];
  const annotationsByImage = new Map<number, CocoAnnotation[]>();
  (annotationsRaw as unknown[]).forEach((value, i) => {
    const a = value as CocoAnnotation;
    const field = `annotations[${i}]`;
    if (!a || !isInt(a.image_id)) {
      throw new InputError("image_id must be an integer", {
        file,
        field: `${field}.image_id`,
        value: a?.image_id,
      });
    }
    if (!imageById.has(a.image_id)) {
      throw new InputError("points to an image that is not in 'images'", {
        file,
        field: `${field}.image_id`,
        value: a.image_id,
      });
    }
    if (removedBackground && a.category_id === 0) return;
    if (!categoryIds.has(a.category_id)) {
      throw new InputError("category_id is not in 'categories'", {
        file,
        field: `${field}.category_id`,
        value: a.category_id,
      });
    }
    const box = a.bbox;
    if (
      !Array.isArray(box) || box.length !== 4 ||
      !box.every((v) => typeof v === "number" && Number.isFinite(v))
    ) {
      throw new InputError("bbox must be [x, y, width, height] of finite numbers", {
        file,
        field: `${field}.bbox`,
        value: box,
      });
    }
    if (box[2] <= 0 || box[3] <= 0) {
      throw new InputError("bbox width and height must be positive", {
        file,
        field: `${field}.bbox`,
        value: box,
      });
    }
    const annotation = {
      ...a,
      area: typeof a.area === "number" ? a.area : box[2] * box[3],
      iscrowd: a.iscrowd ?? 0,
    };
    annotations.push(annotation);
    let list = annotationsByImage.get(a.image_id);
    if (!list) annotationsByImage.set(a.image_id, list = []);
    list.push(annotation);
  });
  return {
    path: file,
    images,
    annotations,
    categories,
    imageById,
    annotationsByImage,
    raw,
    removedBackground,
  };
}

/** Reads and validates a COCO-format file. */
export async function loadCocoJson(
  path: string,
  options: { removeBackground?: boolean } = {},
): Promise<CocoDataset> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new InputError(`cannot read the annotation file (${(error as Error).message})`, {
      file: path,
    });
  }
  return validateCoco(parseJsonFile(text, path), path, options);
}

/**
 * Checks that every image file exists under `imageRoot`; reports all missing files together
 * (the first 10 by name and the count).
 */
export async function checkImageFiles(
  dataset: CocoDataset,
  imageRoot: string,
  imageIds?: number[],
): Promise<void> {
  const missing: string[] = [];
  for (const id of imageIds ?? dataset.images.map((i) => i.id)) {
    const image = dataset.imageById.get(id)!;
    try {
      await Deno.stat(join(imageRoot, image.file_name));
    } catch {
      missing.push(image.file_name);
    }
  }
  if (missing.length > 0) {
    const shown = missing.slice(0, 10).join(", ");
    throw new InputError(
      `${missing.length} image file(s) missing under ${imageRoot}: ${shown}${
        missing.length > 10 ? ", ..." : ""
      }`,
      { file: dataset.path },
    );
  }
}
