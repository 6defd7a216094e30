/**
 * Remembers which files were hashed, so that a multi-gigabyte file is hashed once and not on
 * every use: an entry holds the file's real path, size, modification and change times, device
 * and inode, and its sha256. A file whose stat differs in any of these is hashed again. The
 * cache file is written through a temporary file and a rename; a cache file that cannot be read
 * or does not have the expected shape is ignored (and rebuilt), and an entry is never trusted
 * beyond its stat match.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { sha256File } from "./hash.ts";
import { writeFileAtomic } from "./atomic_file.ts";

/** The project's cache folder (git-ignored; the same folder as `benchmarks/models.ts` CACHE_DIR). */
export const DEFAULT_CACHE_DIR: string = fileURLToPath(new URL("../.cache/", import.meta.url));

/** The cache file's name inside the cache folder. */
export const DIGEST_CACHE_FILE = "verified-files.json";

const FORMAT = "glip-bench-digest-cache";
/** A larger cache file is not read (it cannot be ours): 16 MiB. */
const MAX_CACHE_BYTES = 16 << 20;
/** Entries kept, most recently verified first. */
const MAX_ENTRIES = 4096;

interface Entry {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  dev: number;
  ino: number;
  sha256: string;
  verifiedAt: number;
}

/** The digest of one file and whether it came from the cache. */
export interface FileDigest {
  sha256: string;
  size: number;
  /** True when the stat matched a remembered entry and the file was not read. */
  fromCache: boolean;
}

function statKey(info: Deno.FileInfo): Omit<Entry, "sha256" | "verifiedAt"> {
  return {
    size: info.size,
    mtimeMs: info.mtime?.getTime() ?? -1,
    ctimeMs: info.ctime?.getTime() ?? -1,
    dev: info.dev ?? -1,
    ino: info.ino ?? -1,
  };
}

function sameStat(entry: Entry, info: Deno.FileInfo): boolean {
  const key = statKey(info);
  return entry.size === key.size && entry.mtimeMs === key.mtimeMs &&
    entry.ctimeMs === key.ctimeMs && entry.dev === key.dev && entry.ino === key.ino &&
    key.mtimeMs !== -1 && key.ino !== -1;
}

function validEntry(value: unknown): value is Entry {
  if (typeof value !== "object" || value === null) return false;
  const e = value as Record<string, unknown>;
  return ["size", "mtimeMs", "ctimeMs", "dev", "ino", "verifiedAt"].every((k) =>
    Number.isFinite(e[k])
  ) && typeof e.sha256 === "string" && /^[0-9a-f]{64}$/.test(e.sha256);
}

/**
 * File digests remembered across runs in `cacheDir` (or only in memory when `cacheDir` is
 * `null`).
 *
 * @example
 * ```ts
 * import { DigestCache } from "./digest_cache.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/weights.data`, "abc");
 * const cache = await DigestCache.open(dir);
 * console.assert(!(await cache.digest(`${dir}/weights.data`)).fromCache);
 * await cache.save();
 * const again = await DigestCache.open(dir);
 * console.assert((await again.digest(`${dir}/weights.data`)).fromCache);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class DigestCache {
  #changed = false;

  private constructor(readonly file: string | undefined, readonly entries: Map<string, Entry>) {}

  /** Reads the cache of `cacheDir`; an unreadable or malformed cache file counts as empty. */
  static async open(cacheDir: string | null = DEFAULT_CACHE_DIR): Promise<DigestCache> {
    if (cacheDir === null) return new DigestCache(undefined, new Map());
    const file = join(cacheDir, DIGEST_CACHE_FILE);
    return new DigestCache(file, await readEntries(file));
  }

  /**
   * The sha256 of the file at `path`: remembered when its stat matches an entry, else read
   * (streamed) and remembered. A file that changes while it is read is not remembered.
   */
  async digest(path: string): Promise<FileDigest> {
    const real = await Deno.realPath(path);
    const before = await Deno.stat(real);
    const entry = this.entries.get(real);
    if (entry && sameStat(entry, before)) {
      return { sha256: entry.sha256, size: before.size, fromCache: true };
    }
    const sha256 = await sha256File(real);
    const after = await Deno.stat(real);
    const stable = JSON.stringify(statKey(before)) === JSON.stringify(statKey(after));
    if (stable) this.#remember(real, after, sha256);
    else this.entries.delete(real);
    return { sha256, size: after.size, fromCache: false };
  }

  /**
   * Remembers the digest of a file the caller has just written and hashed itself (its bytes
   * are trusted only as long as its stat matches).
   */
  async remember(path: string, sha256: string): Promise<void> {
    const real = await Deno.realPath(path);
    this.#remember(real, await Deno.stat(real), sha256);
  }

  #remember(real: string, info: Deno.FileInfo, sha256: string): void {
    this.entries.delete(real);
    this.entries.set(real, { ...statKey(info), sha256, verifiedAt: Date.now() });
    this.#changed = true;
  }

  /**
   * Writes the cache file (temp + rename) when something changed, merged with the entries
   * another process saved meanwhile; keeps the newest entries.
   */
  async save(): Promise<void> {
    if (!this.file || !this.#changed) return;
    for (const [path, entry] of await readEntries(this.file)) {
      const mine = this.entries.get(path);
      if (!mine || mine.verifiedAt < entry.verifiedAt) this.entries.set(path, entry);
    }
    const kept = [...this.entries].sort((a, b) => b[1].verifiedAt - a[1].verifiedAt)
      .slice(0, MAX_ENTRIES);
    await Deno.mkdir(dirname(this.file), { recursive: true });
    await writeFileAtomic(
      this.file,
      JSON.stringify({ format: FORMAT, version: 1, files: Object.fromEntries(kept) }) + "\n",
    );
    this.#changed = false;
  }
}

/** The valid entries of a cache file; none when it is absent, unreadable or malformed. */
async function readEntries(file: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  try {
    const info = await Deno.stat(file);
    if (info.isFile && info.size <= MAX_CACHE_BYTES) {
      const parsed = JSON.parse(await Deno.readTextFile(file));
      if (parsed?.format === FORMAT && parsed.version === 1 && typeof parsed.files === "object") {
        for (const [path, entry] of Object.entries(parsed.files ?? {})) {
          if (validEntry(entry)) entries.set(path, entry);
        }
      }
    }
  } catch {
    // absent or unreadable: start empty, the next save() replaces it
  }
  return entries;
}
