/**
 * Where datasets live: `--data DIR`, then `$GLIP_BENCH_DATA`, then `./DATASET` (GLIP's layout:
 * `DATASET/coco`, `DATASET/odinw`, `DATASET/flickr30k`, ...).
 *
 * @module
 */
import { resolve } from "node:path";

/** How the data root was chosen. */
export interface DataRoot {
  /** The data root's absolute path. */
  path: string;
  /**
   * What chose it: the `--data` flag, the `GLIP_BENCH_DATA` variable, or the default `./DATASET`.
   */
  source: "--data" | "GLIP_BENCH_DATA" | "default";
}

/**
 * Resolves the data root.
 *
 * @example
 * ```ts
 * import { resolveDataRoot } from "./data_root.ts";
 * console.assert(resolveDataRoot("/data").source === "--data");
 * ```
 */
export function resolveDataRoot(flag?: string): DataRoot {
  if (flag) return { path: resolve(flag), source: "--data" };
  const env = Deno.env.get("GLIP_BENCH_DATA");
  if (env) return { path: resolve(env), source: "GLIP_BENCH_DATA" };
  return { path: resolve("DATASET"), source: "default" };
}

/** "DIR (from --data)" for messages. */
export function describeDataRoot(root: DataRoot): string {
  return `${root.path} (from ${root.source === "default" ? "the default ./DATASET" : root.source})`;
}
