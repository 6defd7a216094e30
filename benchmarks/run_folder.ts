/**
 * The default run folder: `runs/<suite>-<date>`, then `-2`, `-3`, ... so that a run never lands
 * in an earlier one's folder. The folder is created atomically (a plain `mkdir`, which fails when
 * it exists), so two runs started at once get two folders.
 *
 * @module
 */
import { dirname, join } from "node:path";

/**
 * Creates and returns a new folder named `base`, or `base-2`, `base-3`, ... when taken.
 *
 * @example
 * ```ts
 * import { claimNewRunDir } from "./run_folder.ts";
 * const root = await Deno.makeTempDir();
 * const first = await claimNewRunDir(`${root}/odinw-2026-12-01`);
 * const second = await claimNewRunDir(`${root}/odinw-2026-12-01`);
 * console.assert(first !== second && second.endsWith("-2"));
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function claimNewRunDir(base: string): Promise<string> {
  await Deno.mkdir(dirname(base), { recursive: true });
  for (let n = 1; n <= 10_000; n++) {
    const dir = n === 1 ? base : `${base}-${n}`;
    try {
      await Deno.mkdir(dir);
      return dir;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
  throw new Error(`${base}: 10000 run folders of this name exist; give --out`);
}

/** The default run folder name of `suite` today: `runs/<suite>-<YYYY-MM-DD>`. */
export function defaultRunDirBase(suite: string, now = new Date()): string {
  return join("runs", `${suite}-${now.toISOString().slice(0, 10)}`);
}
