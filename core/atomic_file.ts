/**
 * Crash-safe file writes: the bytes go to a temporary file beside the target, are flushed, and
 * the temporary file is renamed over the target, so a reader (or a resumed run after a crash)
 * sees either the old file whole or the new file whole, never a mix.
 *
 * @module
 */

/** A fresh temporary name beside `path` (same folder, so the rename stays on one file system). */
export function temporaryPathFor(path: string): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  return `${path}.tmp-${Deno.pid}-${random}`;
}

/**
 * Writes `data` to `path` through a temporary file and a rename.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/state.json`, '{"epoch":1}');
 * console.assert((await Deno.readTextFile(`${dir}/state.json`)) === '{"epoch":1}');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const temp = temporaryPathFor(path);
  try {
    {
      using file = await Deno.open(temp, { write: true, createNew: true });
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    }
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/**
 * Runs `write(temp)` to produce a file at a temporary path, then renames it onto `path`; the
 * temporary file (or folder) is removed when `write` fails. For writers that take a path
 * (safetensors files, whole bundle folders).
 */
export async function writeViaTemporary(
  path: string,
  write: (temporaryPath: string) => Promise<void>,
): Promise<void> {
  const temp = temporaryPathFor(path);
  try {
    await write(temp);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    throw error;
  }
}
