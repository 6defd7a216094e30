/**
 * CPython's `random.Random`, bit for bit where GLIP depends on it: the MT19937 generator seeded
 * with `init_by_array` from the integer seed's 32-bit chunks (so seeds above 2^32 and 2^64 work as
 * in Python), `getrandbits`, `_randbelow` (rejection sampling on `getrandbits`), `shuffle` and
 * `random`. GLIP's seeded few-shot sampler calls `random.Random(seed).shuffle(ids)`.
 *
 * @module
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** The 32-bit little-endian chunks of |seed|, as CPython's `random_seed` builds the key. */
export function seedKey(seed: number | bigint): number[] {
  if (typeof seed === "number" && !Number.isSafeInteger(seed)) {
    throw new RangeError(
      `PythonRandom seeds must be integers (got ${seed}); pass a bigint for seeds above 2^53`,
    );
  }
  let n = BigInt(seed);
  if (n < 0n) n = -n;
  if (n === 0n) return [0];
  const key: number[] = [];
  while (n > 0n) {
    key.push(Number(n & 0xffffffffn));
    n >>= 32n;
  }
  return key;
}

/**
 * A Mersenne Twister that yields the same numbers as Python's `random.Random(seed)`.
 *
 * @example
 * ```ts
 * import { PythonRandom } from "./python_random.ts";
 * // Python: random.Random(0).shuffle(x := list(range(10))); x == [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]
 * const items = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
 * new PythonRandom(0).shuffle(items);
 * console.assert(items.join() === "7,8,1,5,3,4,2,0,9,6");
 * ```
 */
export class PythonRandom {
  readonly #mt = new Uint32Array(N);
  #index = N + 1;

  /**
   * Creates a generator in the state CPython's `random.Random(seed)` starts in.
   *
   * @param seed Any integer; negative seeds use their absolute value, as in CPython.
   */
  constructor(seed: number | bigint) {
    this.#initByArray(seedKey(seed));
  }

  #initGenrand(s: number): void {
    const mt = this.#mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const previous = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, previous) + i) >>> 0;
    }
    this.#index = N;
  }

  #initByArray(key: number[]): void {
    const mt = this.#mt;
    this.#initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const previous = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(previous, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const previous = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(previous, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  #twist(): void {
    const mt = this.#mt;
    let kk = 0;
    for (; kk < N - M; kk++) {
      const y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      const y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.#index = 0;
  }

  /** The next 32-bit output (CPython's `genrand_uint32`). */
  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.getrandbits(k)` for any k >= 0 (words little-endian, as CPython assembles them). */
  getrandbits(k: number): bigint {
    if (!Number.isInteger(k) || k < 0) {
      throw new RangeError(`getrandbits() needs a non-negative integer bit count (got ${k})`);
    }
    if (k <= 32) return BigInt(this.#bits32(k));
    let result = 0n;
    for (let shift = 0n, left = k; left > 0; left -= 32, shift += 32n) {
      let word = this.nextUint32();
      if (left < 32) word >>>= 32 - left;
      result |= BigInt(word) << shift;
    }
    return result;
  }

  #bits32(k: number): number {
    return k === 0 ? 0 : this.nextUint32() >>> (32 - k);
  }

  /** `random._randbelow(n)`: uniform in [0, n) by rejection on `getrandbits(n.bit_length())`. */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) {
      throw new RangeError(`randbelow() needs an integer in [1, 2^32) (got ${n})`);
    }
    const k = 32 - Math.clz32(n);
    let r = this.#bits32(k);
    while (r >= n) r = this.#bits32(k);
    return r;
  }

  /** `random.shuffle(items)` in place (Fisher-Yates from the end, as CPython). */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const swap = items[i];
      items[i] = items[j];
      items[j] = swap;
    }
    return items;
  }

  /** `random.random()`: a float in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}
