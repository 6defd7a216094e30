/**
 * `--shard i/n`: a deterministic slice of a task's images, for job arrays.
 * @module
 */
import { UsageError } from "../core/errors.ts";

/** Shard `index` (1-based) of `count`. */
export interface Shard {
  index: number;
  count: number;
}

/**
 * Parses `i/n` with 1 <= i <= n.
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard.ts";
 * console.assert(parseShard("2/3").index === 2);
 * ```
 */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || count < 1 || index < 1 || index > count) {
    throw new UsageError(`--shard must be i/n with 1 <= i <= n, e.g. 2/4 (got '${text}')`);
  }
  return { index, count };
}

/**
 * The image ids of a shard: image ids sorted ascending, every n-th starting at i-1, so shards
 * are balanced and their union is the whole set.
 */
export function shardImageIds(sortedIds: readonly number[], shard?: Shard): number[] {
  if (!shard || shard.count === 1) return [...sortedIds];
  return sortedIds.filter((_, position) => position % shard.count === shard.index - 1);
}
