/**
 * Small file-system helpers shared by the commands and runners.
 *
 * @module
 */
import { InputError } from "./errors.ts";

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

/**
 * The text of an optional file: undefined when there is none; any other read failure is an
 * {@link InputError} naming the file.
 *
 * @example
 * ```ts
 * import { readTextIfPresent } from "./fs.ts";
 * console.assert((await readTextIfPresent("/no/such/file.json")) === undefined);
 * ```
 */
export async function readTextIfPresent(file: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new InputError(`cannot read (${(error as Error).message})`, { file });
  }
}
