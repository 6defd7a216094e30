/**
 * Decoding PNG and JPEG files to 8-bit RGB, as PIL's `Image.open(...).convert("RGB")` gives
 * them to GLIP: alpha is dropped (not composited), grey and palette images are expanded,
 * 16-bit samples keep their high byte.
 *
 * @module
 */
import { decode as decodePng } from "fast-png";
import jpeg from "jpeg-js";
import { InputError } from "../../core/errors.ts";

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Decodes PNG or JPEG bytes (detected from the signature). `name` is used in errors. */
export function decodeImage(bytes: Uint8Array, name = "(image)"): RgbImage {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return fromPng(bytes, name);
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return fromJpeg(bytes, name);
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

function fromJpeg(bytes: Uint8Array, name: string): RgbImage {
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
