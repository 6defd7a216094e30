/**
 * GLIP's anchors (`make_anchor_generator_complex`): one anchor per location and FPN level, a
 * square of the level's size centred at ((s - 1) / 2 + k s), rows outer.
 *
 * @module
 */

/**
 * The anchors of one level as xyxy, [H * W * 4].
 *
 * @example
 * ```ts
 * import { levelAnchors } from "./anchors.ts";
 * const anchors = levelAnchors(1, 1, 8, 64);
 * console.assert(anchors.join() === "-28,-28,35,35");
 * ```
 */
export function levelAnchors(
  height: number,
  width: number,
  stride: number,
  size: number,
): Float32Array {
  const anchors = new Float32Array(height * width * 4);
  const center = (stride - 1) / 2;
  const half = (size - 1) / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const cx = center + x * stride;
      const cy = center + y * stride;
      anchors[i] = cx - half;
      anchors[i + 1] = cy - half;
      anchors[i + 2] = cx + half;
      anchors[i + 3] = cy + half;
    }
  }
  return anchors;
}
