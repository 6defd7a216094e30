/**
 * Image dimensions read from the file header (PNG `IHDR`, JPEG start-of-frame) without decoding
 * a pixel, so that a small file declaring a huge image can be refused before it is decoded.
 *
 * @module
 */
import { InputError } from "../../core/errors.ts";

/** Width and height as the file's header declares them. */
export interface ImageDimensions {
  width: number;
  height: number;
}

/** Whether the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
}

/** Whether the bytes start with a JPEG start-of-image marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8;
}

/**
 * The dimensions a PNG or JPEG declares in its header. `name` is used in errors.
 *
 * @example
 * ```ts
 * import { imageDimensions } from "./dimensions.ts";
 * const png = new Uint8Array(24);
 * png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
 * new DataView(png.buffer).setUint32(16, 640);
 * new DataView(png.buffer).setUint32(20, 480);
 * console.assert(imageDimensions(png).width === 640);
 * ```
 */
export function imageDimensions(bytes: Uint8Array, name = "(image)"): ImageDimensions {
  if (isPng(bytes)) return pngDimensions(bytes, name);
  if (isJpeg(bytes)) return jpegDimensions(bytes, name);
  throw new InputError("not a PNG or JPEG file (unknown signature)", {
    file: name,
    value: Array.from(bytes.subarray(0, 4)),
  });
}

function pngDimensions(bytes: Uint8Array, name: string): ImageDimensions {
  const type = new TextDecoder().decode(bytes.subarray(12, 16));
  if (bytes.length < 24 || type !== "IHDR") {
    throw new InputError("PNG without an IHDR header chunk first", { file: name, value: type });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size. */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function jpegDimensions(bytes: Uint8Array, name: string): ImageDimensions {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 2;
  while (p + 4 <= bytes.length) {
    if (bytes[p] !== 0xff) {
      throw new InputError("JPEG marker expected", {
        file: name,
        field: `byte ${p}`,
        value: bytes[p],
      });
    }
    const marker = bytes[p + 1];
    if (marker === 0xff) { // fill byte
      p++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { // markers without a length
      p += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // end of image, or scan data before a frame
    const length = view.getUint16(p + 2);
    if (SOF.has(marker)) {
      if (p + 9 > bytes.length) break;
      return { width: view.getUint16(p + 7), height: view.getUint16(p + 5) };
    }
    p += 2 + length;
  }
  throw new InputError("JPEG without a start-of-frame header before its scan data", { file: name });
}
