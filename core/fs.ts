/**
 * Small file-system helpers shared by the commands and runners.
 *
 * @module
 */

/**
 * Whether something exists at `path` (any stat failure counts as absent).
 *
 * @example
 * ```ts
 * import { pathExists } from "./fs.ts";
 * console.assert(!(await pathExists("/no/such/path/here")));
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
