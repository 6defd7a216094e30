/**
 * The data root's lock file (`glip-bench-data.lock.json`): the size and sha256 of every file
 * `deno task data` downloaded, recorded the first time it is seen (trust on first use) and
 * checked on every later download, also on another machine given the same lock file, and by
 * `deno task data --verify`. A file that differs from its record is an error naming the file,
 * the recorded and the actual value.
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { parseJsonText } from "../core/json.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";

/** The lock file's name in the data root. */
export const DATA_LOCK_FILE = "glip-bench-data.lock.json";

/** One downloaded file as first seen. */
export interface LockedFile {
  size: number;
  sha256: string;
  /** Where it was fetched from the first time. */
  url: string;
}

/** The lock: files by path relative to the data root. */
export interface DataLock {
  path: string;
  files: Map<string, LockedFile>;
}

/**
 * Reads the lock of a data root (empty when there is none). Every record is checked: a
 * malformed lock is an InputError naming the entry and field, never half used.
 */
export async function readDataLock(root: string): Promise<DataLock> {
  const path = join(root, DATA_LOCK_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { path, files: new Map() };
    throw new InputError(`cannot read the data lock (${(error as Error).message})`, { file: path });
  }
  const data = parseJsonText(text, path);
  const files = (data as { files?: unknown })?.files;
  if (files === null || typeof files !== "object" || Array.isArray(files)) {
    throw new InputError('expected {"version": 1, "files": {path: {size, sha256, url}}}', {
      file: path,
      field: "files",
    });
  }
  const locked = new Map<string, LockedFile>();
  for (const [name, entry] of Object.entries(files as Record<string, unknown>)) {
    const { size, sha256, url } = (entry ?? {}) as Record<string, unknown>;
    const where = (field: string, value: unknown) => ({
      file: path,
      field: `files["${name}"].${field}`,
      value,
    });
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw new InputError("size must be a non-negative integer", where("size", size));
    }
    if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw new InputError("sha256 must be 64 lowercase hex digits", where("sha256", sha256));
    }
    if (typeof url !== "string") throw new InputError("url must be a string", where("url", url));
    locked.set(name, { size, sha256, url });
  }
  return { path, files: locked };
}

/** Writes the lock (temp file + rename: a reader never sees half a lock). */
export async function writeDataLock(lock: DataLock): Promise<void> {
  const files = Object.fromEntries([...lock.files].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
  await writeFileAtomic(lock.path, `${JSON.stringify({ version: 1, files }, null, 2)}\n`);
}

/**
 * Checks a file against its record, or records it when the lock has none (trust on first use).
 * Returns whether the lock changed.
 */
export function checkOrRecord(
  lock: DataLock,
  name: string,
  actual: LockedFile,
  file = name,
): boolean {
  const locked = lock.files.get(name);
  if (!locked) {
    lock.files.set(name, actual);
    return true;
  }
  if (locked.size !== actual.size || locked.sha256 !== actual.sha256) {
    throw new InputError(
      `differs from the data lock ${lock.path}: expected ${locked.size} bytes, sha256 ${locked.sha256}; got ${actual.size} bytes, sha256 ${actual.sha256}`,
      { file },
    );
  }
  return false;
}
