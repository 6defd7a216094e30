/**
 * GLIP's resize: the output size rule of `Resize.get_size` and Pillow's BILINEAR resampling,
 * reproduced byte for byte (Pillow's `ImagingResample`: a triangle filter whose support grows
 * with the downscale factor, so downscaling antialiases; coefficients in 22-bit fixed point;
 * a horizontal pass rounded to 8 bits, then a vertical pass).
 *
 * @module
 */

/** Python's `round()` (half to even). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * GLIP's `Resize.get_size`: the short side becomes `minSize` unless the long side would exceed
 * `maxSize`, then `int(round(maxSize * short / long))`; the long side is truncated.
 *
 * @example
 * ```ts
 * import { glipResizeSize } from "./resize.ts";
 * const size = glipResizeSize(900, 500, 200, 333);
 * console.assert(size.width === 333 && size.height === 185);
 * ```
 */
export function glipResizeSize(
  width: number,
  height: number,
  minSize: number,
  maxSize: number,
): { width: number; height: number } {
  let size = minSize;
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  if ((long / short) * size > maxSize) size = roundHalfEven((maxSize * short) / long);
  if ((width <= height && width === size) || (height <= width && height === size)) {
    return { width, height };
  }
  if (width < height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

const PRECISION_BITS = 32 - 8 - 2;

/** Pillow's `precompute_coeffs` with the bilinear filter, normalized to fixed point. */
function coefficients(inSize: number, outSize: number) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const kernelSize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * kernelSize);
  const row = new Float64Array(kernelSize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const w = t < 1 ? 1 - t : 0;
      row[x] = w;
      total += w;
    }
    for (let x = 0; x < kernelSize; x++) {
      const w = x < xmax && total !== 0 ? row[x] / total : 0;
      weights[xx * kernelSize + x] = w < 0
        ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { kernelSize, bounds, weights };
}

function clip8(value: number): number {
  if (value >= (1 << PRECISION_BITS) * 256) return 255;
  if (value <= 0) return 0;
  return Math.floor(value / (1 << PRECISION_BITS));
}

/**
 * Resizes 8-bit RGB like Pillow's `Image.resize((newWidth, newHeight), BILINEAR)`.
 */
export function resizeBilinearPil(
  rgb: Uint8Array,
  width: number,
  height: number,
  newWidth: number,
  newHeight: number,
): Uint8Array {
  const horizontal = newWidth !== width;
  const vertical = newHeight !== height;
  const h = coefficients(width, newWidth);
  const v = coefficients(height, newHeight);
  const firstRow = v.bounds[0];
  const lastRow = v.bounds[newHeight * 2 - 2] + v.bounds[newHeight * 2 - 1];
  let source = rgb;
  let sourceWidth = width;
  let rowOffset = 0;
  const half = 1 << (PRECISION_BITS - 1);
  if (horizontal) {
    const rows = lastRow - firstRow;
    const temp = new Uint8Array(newWidth * rows * 3);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + firstRow) * width * 3;
      for (let xx = 0; xx < newWidth; xx++) {
        const xmin = h.bounds[xx * 2];
        const count = h.bounds[xx * 2 + 1];
        const k = xx * h.kernelSize;
        let s0 = half, s1 = half, s2 = half;
        for (let x = 0; x < count; x++) {
          const p = inRow + (x + xmin) * 3;
          const w = h.weights[k + x];
          s0 += rgb[p] * w;
          s1 += rgb[p + 1] * w;
          s2 += rgb[p + 2] * w;
        }
        const o = (y * newWidth + xx) * 3;
        temp[o] = clip8(s0);
        temp[o + 1] = clip8(s1);
        temp[o + 2] = clip8(s2);
      }
    }
    source = temp;
    sourceWidth = newWidth;
    rowOffset = firstRow;
  }
  if (!vertical) {
    return horizontal ? source : rgb.slice();
  }
  const out = new Uint8Array(sourceWidth * newHeight * 3);
  for (let yy = 0; yy < newHeight; yy++) {
    const ymin = v.bounds[yy * 2] - rowOffset;
    const count = v.bounds[yy * 2 + 1];
    const k = yy * v.kernelSize;
    for (let xx = 0; xx < sourceWidth; xx++) {
      let s0 = half, s1 = half, s2 = half;
      for (let y = 0; y < count; y++) {
        const p = ((y + ymin) * sourceWidth + xx) * 3;
        const w = v.weights[k + y];
        s0 += source[p] * w;
        s1 += source[p + 1] * w;
        s2 += source[p + 2] * w;
      }
      const o = (yy * sourceWidth + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}
