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
 * @module
 */
import { decode as decodePng } from "fast-png";
import jpeg from "jpeg-js";
import { InputError, UsageError } from "../../core/errors.ts";

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
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

/** Decodes PNG or JPEG bytes (detected from the signature). `name` is used in errors. */
export async function decodeImage(bytes: Uint8Array, name = "(image)"): Promise<RgbImage> {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return fromPng(bytes, name);
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    return jpegDecoder() === "sharp" ? await fromJpegSharp(bytes, name) : fromJpegJs(bytes, name);
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
  options: { ignoreIcc: boolean; autoOrient: boolean; limitInputPixels: boolean },
) => {
  raw(): {
    toBuffer(options: { resolveWithObject: true }): Promise<{
      data: Uint8Array;
      info: { width: number; height: number; channels: number };
    }>;
  };
};
/** Imported by name at run time, so its typings stay out of type checking. */
const SHARP_SPECIFIER = "sharp";
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

async function fromJpegSharp(bytes: Uint8Array, name: string): Promise<RgbImage> {
  const sharp = await loadSharp();
  let data: Uint8Array;
  let info: { width: number; height: number; channels: number };
  try {
    ({ data, info } = await sharp(bytes, {
      ignoreIcc: true,
      autoOrient: false,
      limitInputPixels: false,
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

function fromJpegJs(bytes: Uint8Array, name: string): RgbImage {
  let decoded;
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      maxMemoryUsageInMB: 2048,
    });
  } catch (error) {
    throw new InputError(`cannot decode JPEG: ${(error as Error).message}`, { file: name });
  }
  return { width: decoded.width, height: decoded.height, rgb: new Uint8Array(decoded.data) };
}
