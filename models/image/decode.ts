/**
 * Decoding PNG and JPEG files to 8-bit RGB, as PIL's `Image.open(...).convert("RGB")` gives
 * them to GLIP: alpha is dropped (not composited), grey and palette images are expanded,
 * 16-bit samples keep their high byte.
 *
 * JPEGs are decoded by libjpeg-turbo through `sharp` (embedded ICC profiles and EXIF
 * orientation ignored, as PIL ignores them), which gives PIL's bytes exactly: the default
 * islow IDCT and "fancy" chroma upsampling (tests/image/jpeg_test.ts). The pure-JS decoder
 * (`jpeg-js`) upsamples chroma by repetition and differs from PIL by up to 91 levels (mean
 * about 5) on 4:2:0 files; it is used only when asked for with
 * `GLIP_BENCH_JPEG_DECODER=jpeg-js` (for platforms without sharp's prebuilt binary).
 *
 * Decompression bombs are handled as PIL handles them (`Image.MAX_IMAGE_PIXELS`): the size is
 * read from the header before anything is decoded; above {@link DEFAULT_MAX_IMAGE_PIXELS}
 * pixels a warning is given, above twice that the image is refused. The limit is the
 * `maxImagePixels` option, else `$GLIP_BENCH_MAX_IMAGE_PIXELS` (a number, or `none` for no
 * limit, as PIL's `MAX_IMAGE_PIXELS = None`).
 *
 * @module
 */
import { decode as decodePng } from "fast-png";
import jpeg from "jpeg-js";
import { InputError, UsageError } from "../../core/errors.ts";
import { imageDimensions, isJpeg, isPng } from "./dimensions.ts";

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** R, G, B bytes of each pixel, row by row. */
  rgb: Uint8Array;
}

/** The JPEG decoders: `sharp` (libjpeg-turbo, PIL's bytes) or the pure-JS `jpeg-js`. */
export type JpegDecoder = "sharp" | "jpeg-js";

/** The JPEG decoder in use: `GLIP_BENCH_JPEG_DECODER`, default `sharp`. */
export function jpegDecoder(): JpegDecoder {
  const chosen = Deno.env.get("GLIP_BENCH_JPEG_DECODER") ?? "sharp";
  if (chosen !== "sharp" && chosen !== "jpeg-js") {
    throw new UsageError(
      `GLIP_BENCH_JPEG_DECODER must be sharp or jpeg-js (got '${chosen}')`,
    );
  }
  return chosen;
}

/** PIL's `Image.MAX_IMAGE_PIXELS`: warn above it, refuse above twice it. */
export const DEFAULT_MAX_IMAGE_PIXELS = 89_478_485;

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /**
   * PIL's `MAX_IMAGE_PIXELS`: images with more pixels give a warning, images with more than
   * twice as many are refused before decoding; `Infinity` turns the check off.
   * @default $GLIP_BENCH_MAX_IMAGE_PIXELS, else DEFAULT_MAX_IMAGE_PIXELS
   */
  maxImagePixels?: number;
  /** Receives the decompression-bomb warning. @default console.warn */
  onWarning?: (line: string) => void;
}

/**
 * Reads a pixel limit as `--max-image-pixels` and `$GLIP_BENCH_MAX_IMAGE_PIXELS` write it: a
 * positive whole number, or `none` for no limit (`Infinity`). `source` names the flag or variable
 * in the {@link UsageError} a bad value gets.
 *
 * @example
 * ```ts
 * import { parseMaxImagePixels } from "./decode.ts";
 * console.assert(parseMaxImagePixels("1000000", "--max-image-pixels") === 1_000_000);
 * console.assert(parseMaxImagePixels("none", "--max-image-pixels") === Infinity);
 * ```
 */
export function parseMaxImagePixels(text: string, source: string): number {
  if (text === "none") return Infinity;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`${source} must be a positive whole number or 'none' (got '${text}')`);
  }
  return value;
}

/** The pixel limit in use: `$GLIP_BENCH_MAX_IMAGE_PIXELS` (`none` = no limit), else PIL's. */
export function maxImagePixels(): number {
  const text = Deno.env.get("GLIP_BENCH_MAX_IMAGE_PIXELS");
  if (text === undefined || text === "") return DEFAULT_MAX_IMAGE_PIXELS;
  return parseMaxImagePixels(text, "GLIP_BENCH_MAX_IMAGE_PIXELS");
}

/**
 * Refuses (InputError) an image whose header declares more than twice `limit` pixels and warns
 * above `limit`, as PIL's `_decompression_bomb_check` does; returns the pixel count.
 */
export function checkImagePixels(
  bytes: Uint8Array,
  name: string,
  limit: number,
  onWarning: (line: string) => void = console.warn,
): number {
  const { width, height } = imageDimensions(bytes, name);
  const pixels = width * height;
  if (width === 0 || height === 0) {
    throw new InputError("the header declares an empty image", {
      file: name,
      value: `${width}x${height}`,
    });
  }
  if (pixels > 2 * limit) {
    throw new InputError(
      `image size (${pixels} pixels) exceeds limit of ${2 * limit} pixels, could be a ` +
        "decompression bomb attack (PIL refuses it too); raise the limit with " +
        "--max-image-pixels N or GLIP_BENCH_MAX_IMAGE_PIXELS=N if the file is trusted",
      { file: name, value: `${width}x${height}` },
    );
  }
  if (pixels > limit) {
    onWarning(
      `${name}: image size (${pixels} pixels, ${width}x${height}) exceeds limit of ${limit} ` +
        "pixels, could be a decompression bomb attack",
    );
  }
  return pixels;
}

/**
 * Decodes PNG or JPEG bytes (detected from the signature). `name` is used in errors. The
 * declared size is checked against the pixel limit before decoding.
 */
export async function decodeImage(
  bytes: Uint8Array,
  name = "(image)",
  options: DecodeOptions = {},
): Promise<RgbImage> {
  const limit = options.maxImagePixels ?? maxImagePixels();
  checkImagePixels(bytes, name, limit, options.onWarning);
  if (isPng(bytes)) return fromPng(bytes, name);
  if (isJpeg(bytes)) {
    return jpegDecoder() === "sharp"
      ? await fromJpegSharp(bytes, name, limit)
      : fromJpegJs(bytes, name, limit);
  }
  throw new InputError("not a PNG or JPEG file (unknown signature)", {
    file: name,
    value: Array.from(bytes.subarray(0, 4)),
  });
}

function fromPng(bytes: Uint8Array, name: string): RgbImage {
  let png;
  try {
    png = decodePng(bytes);
  } catch (error) {
    throw new InputError(`cannot decode PNG: ${(error as Error).message}`, { file: name });
  }
  const { width, height } = png;
  const channels = png.channels;
  const data = png.data;
  const rgb = new Uint8Array(width * height * 3);
  const sample = (i: number) => (png.depth === 16 ? (data[i] as number) >> 8 : (data[i] as number));
  if (png.palette) {
    const palette = png.palette;
    for (let p = 0; p < width * height; p++) {
      const entry = palette[data[p] as number] ?? [0, 0, 0];
      rgb[p * 3] = entry[0];
      rgb[p * 3 + 1] = entry[1];
      rgb[p * 3 + 2] = entry[2];
    }
    return { width, height, rgb };
  }
  for (let p = 0; p < width * height; p++) {
    if (channels >= 3) {
      rgb[p * 3] = sample(p * channels);
      rgb[p * 3 + 1] = sample(p * channels + 1);
      rgb[p * 3 + 2] = sample(p * channels + 2);
    } else {
      const grey = sample(p * channels);
      rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = grey;
    }
  }
  return { width, height, rgb };
}

/** The part of sharp's API used here (its own typings pull in a conflicting @types/node). */
type Sharp = (
  input: Uint8Array,
  options: { ignoreIcc: boolean; autoOrient: boolean; limitInputPixels: number | false },
) => {
  raw(): {
    toBuffer(options: { resolveWithObject: true }): Promise<{
      data: Uint8Array;
      info: { width: number; height: number; channels: number };
    }>;
  };
};
/**
 * Imported by name at run time, so its typings stay out of type checking. A full `npm:`
 * specifier rather than the import map's bare name, so that it resolves in the published
 * package too (tests/image/sharp_specifier_test.ts keeps it equal to deno.json's entry).
 */
export const SHARP_SPECIFIER = "npm:sharp@0.34.5";
let sharpModule: Promise<Sharp> | undefined;

function loadSharp(): Promise<Sharp> {
  sharpModule ??= (import(SHARP_SPECIFIER) as Promise<{ default: Sharp }>).then((m) => m.default)
    .catch((error) => {
      sharpModule = undefined;
      throw new Error(
        `JPEG decoding needs sharp's native libvips binary, which did not load (${
          (error as Error).message
        }). Run 'deno install' on a machine with npm access (it fetches @img/sharp-<platform>), ` +
          "or set GLIP_BENCH_JPEG_DECODER=jpeg-js for the pure-JS decoder (not byte-identical to PIL).",
      );
    });
  return sharpModule;
}

async function fromJpegSharp(bytes: Uint8Array, name: string, limit: number): Promise<RgbImage> {
  const sharp = await loadSharp();
  let data: Uint8Array;
  let info: { width: number; height: number; channels: number };
  try {
    ({ data, info } = await sharp(bytes, {
      ignoreIcc: true,
      autoOrient: false,
      // sharp's own guard stays on, at the same limit (off only when the user turned it off)
      limitInputPixels: Number.isFinite(limit) ? 2 * limit : false,
    }).raw().toBuffer({ resolveWithObject: true }));
  } catch (error) {
    throw new InputError(`cannot decode JPEG: ${(error as Error).message}`, { file: name });
  }
  const { width, height, channels } = info;
  if (channels === 3) return { width, height, rgb: new Uint8Array(data) };
  if (channels !== 1) {
    throw new InputError(
      `JPEG with ${channels} channels (CMYK?) is not supported; convert it to RGB first`,
      { file: name },
    );
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = data[p];
  return { width, height, rgb };
}

function fromJpegJs(bytes: Uint8Array, name: string, limit: number): RgbImage {
  let decoded;
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // RGB output plus jpeg-js's component planes; its own guard follows the pixel limit
      maxMemoryUsageInMB: Number.isFinite(limit)
        ? Math.max(2048, Math.ceil(2 * limit * 8 / 2 ** 20))
        : Infinity,
      maxResolutionInMP: Number.isFinite(limit) ? Math.ceil(2 * limit / 1e6) : Infinity,
    });
  } catch (error) {
    throw new InputError(`cannot decode JPEG: ${(error as Error).message}`, { file: name });
  }
  return { width: decoded.width, height: decoded.height, rgb: new Uint8Array(decoded.data) };
}
