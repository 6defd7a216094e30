/**
 * numpy's floating-point sum and mean, bit for bit: `np.add.reduce` over a float64 array adds,
 * buffer by buffer (8192 elements), the pairwise sum of each buffer (8-way unrolled below 128
 * elements) to the accumulator. pycocotools' summary numbers are `np.mean` of such arrays, so
 * a plain left-to-right sum differs in the last bits (checked against the oracles).
 *
 * @module
 */

const BLOCK = 128;
const BUFFER = 8192;

/** numpy's `pairwise_sum_DOUBLE` over values[start, start + n). */
export function pairwiseSum(values: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let sum = -0;
    for (let i = 0; i < n; i++) sum += values[start + i];
    return sum;
  }
  if (n <= BLOCK) {
    const r = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => values[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += values[start + i + j];
    }
    let sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) sum += values[start + i];
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return pairwiseSum(values, start, half) + pairwiseSum(values, start + half, n - half);
}

/**
 * `np.sum` of a float64 array.
 *
 * @example
 * ```ts
 * import { numpySum } from "./numpy_mean.ts";
 * console.assert(numpySum([0.1, 0.2, 0.3]) === 0.1 + 0.2 + 0.3);
 * ```
 */
export function numpySum(values: ArrayLike<number>): number {
  let sum = 0;
  for (let start = 0; start < values.length; start += BUFFER) {
    sum += pairwiseSum(values, start, Math.min(BUFFER, values.length - start));
  }
  return sum;
}

/** `np.mean` of a float64 array (NaN when empty). */
export function numpyMean(values: ArrayLike<number>): number {
  return numpySum(values) / values.length;
}
