/**
 * Downloads with resume and verification: bytes go to `<dest>.part`; a retry asks the server for
 * the rest with an HTTP `Range` request and appends; the finished file is checked against its
 * known size and sha256 (when known) before it takes its final name. A corrupted file is removed
 * and reported with both hashes, never kept silently.
 *
 * A resumed download never splices two versions of a file: the first response's validator
 * (`ETag`, else `Last-Modified`) is kept beside the part file (`<dest>.part.json`) and sent as
 * `If-Range`; the reply's `Content-Range` must start where the part file ends. A 200 reply, a
 * 416, a `Content-Range` that does not fit, or a part file with no validator (and no pinned
 * sha256 to catch a splice) start the download over from byte 0.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { writeFileAtomic } from "../core/atomic_file.ts";

/** Progress of one download: bytes on disk so far and the total when the server says. */
export type DownloadProgress = (done: number, total: number | undefined) => void;

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** Expected sha256 (hex); the file is rejected when it differs. */
  sha256?: string;
  /** Expected size in bytes; the file is rejected when it differs. */
  size?: number;
  /** Where the expected size and sha256 come from, for messages (e.g. the data lock's path). */
  pinnedBy?: string;
  /** Called as bytes arrive. */
  onProgress?: DownloadProgress;
  /** `fetch` to use (tests may wrap it). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  /** Where the file was saved. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** Its sha256 (hex). */
  sha256: string;
  /** Bytes that were already on disk from an interrupted attempt. */
  resumedFrom: number;
  /** True when the file was already complete and verified (nothing fetched). */
  alreadyPresent: boolean;
}

/** A download failed: the server refused, the transfer broke, or the bytes do not verify. */
export class DownloadError extends Error {
  /** The error's name. */
  override name = "DownloadError";
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return undefined;
  }
}

/** The sha256 of a file, streamed (hex). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function verify(path: string, options: DownloadOptions): Promise<string> {
  const size = (await Deno.stat(path)).size;
  const by = options.pinnedBy ? `, as recorded in ${options.pinnedBy}` : "";
  if (options.size !== undefined && size !== options.size) {
    throw new DownloadError(
      `${path}: expected ${options.size} bytes${by}, got ${size}; the file was removed, run again`,
    );
  }
  const digest = await sha256File(path);
  if (options.sha256 && digest !== options.sha256.toLowerCase()) {
    throw new DownloadError(
      `${path}: sha256 mismatch (expected ${options.sha256}${by}, got ${digest}); the corrupted file was removed, run again`,
    );
  }
  return digest;
}

/**
 * Downloads `url` to `dest`, resuming from `<dest>.part` when an earlier attempt was cut off.
 * An existing `dest` that verifies is kept as it is.
 *
 * @example
 * ```ts ignore
 * import { downloadFile } from "./download.ts";
 * await downloadFile("https://example.org/val.zip", "DATASET/val.zip", { size: 1234 });
 * ```
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const doFetch = options.fetch ?? fetch;
  if (await fileSize(dest) !== undefined) {
    const sha256 = await verifyOrRemove(dest, options);
    return {
      path: dest,
      bytes: (await Deno.stat(dest)).size,
      sha256,
      resumedFrom: 0,
      alreadyPresent: true,
    };
  }
  await Deno.mkdir(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const statePath = `${part}.json`;
  let offset = (await fileSize(part)) ?? 0;
  const state = offset > 0 ? await readPartState(statePath, url) : undefined;
  const validator = state?.etag ?? state?.lastModified;
  // Without a validator nothing tells an old part from a changed file; only a pinned sha256
  // would catch the splice, so resume only then.
  if (offset > 0 && validator === undefined && !options.sha256) offset = 0;
  let response: Response | undefined;
  for (let attempt = 0; response === undefined; attempt++) {
    const headers: Record<string, string> = offset > 0
      ? { Range: `bytes=${offset}-`, ...(validator ? { "If-Range": validator } : {}) }
      : {};
    let reply: Response;
    try {
      reply = await doFetch(url, { headers });
    } catch (error) {
      throw new DownloadError(`${url}: cannot connect (${(error as Error).message})`);
    }
    if (offset > 0 && attempt === 0 && !resumable(reply, offset, state)) {
      // 416, a Content-Range elsewhere, or a changed ETag: the part file is not a prefix of this
      // version; start over from byte 0 (a 200 reply already holds the whole file)
      if (reply.status === 200) {
        offset = 0;
        response = reply;
        continue;
      }
      await reply.body?.cancel();
      offset = 0;
      continue;
    }
    if (!reply.ok) {
      await reply.body?.cancel();
      throw new DownloadError(`${url}: HTTP ${reply.status} ${reply.statusText}`);
    }
    if (offset > 0 && reply.status !== 206) offset = 0;
    response = reply;
  }
  if (offset === 0) {
    await writePartState(statePath, {
      url,
      etag: response.headers.get("etag") ?? undefined,
      lastModified: response.headers.get("last-modified") ?? undefined,
    });
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  const total = Number.isFinite(length) ? offset + length : options.size;
  {
    using file = await Deno.open(part, {
      write: true,
      create: true,
      append: offset > 0,
      truncate: offset === 0,
    });
    let done = offset;
    try {
      for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        done += chunk.length;
        options.onProgress?.(done, total);
      }
    } catch (error) {
      throw new DownloadError(
        `${url}: the transfer broke after ${done} bytes (${
          (error as Error).message
        }); run again to resume from ${part}`,
      );
    }
    if (total !== undefined && done !== total) {
      throw new DownloadError(
        `${url}: the transfer ended at ${done} of ${total} bytes; run again to resume from ${part}`,
      );
    }
  }
  let sha256: string;
  try {
    sha256 = await verifyOrRemove(part, options);
  } finally {
    if (!(await fileSize(part))) await Deno.remove(statePath).catch(() => {});
  }
  await Deno.rename(part, dest);
  await Deno.remove(statePath).catch(() => {});
  return {
    path: dest,
    bytes: (await Deno.stat(dest)).size,
    sha256,
    resumedFrom: offset,
    alreadyPresent: false,
  };
}

/** What is kept beside a part file: the URL and the validators of the response it came from. */
interface PartState {
  url: string;
  etag?: string;
  lastModified?: string;
}

async function readPartState(path: string, url: string): Promise<PartState | undefined> {
  try {
    const state = JSON.parse(await Deno.readTextFile(path)) as PartState;
    const text = (v: unknown) => v === undefined || typeof v === "string";
    if (state?.url !== url || !text(state.etag) || !text(state.lastModified)) return undefined;
    return state;
  } catch {
    return undefined;
  }
}

async function writePartState(path: string, state: PartState): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(state));
}

/**
 * Whether a reply to a Range request continues the part file: a 206 whose Content-Range starts
 * at `offset` and, when the first response had an ETag, carries the same one.
 */
function resumable(reply: Response, offset: number, state: PartState | undefined): boolean {
  if (reply.status !== 206) return false;
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(reply.headers.get("content-range") ?? "");
  if (!range || Number(range[1]) !== offset) return false;
  const etag = reply.headers.get("etag");
  return !(state?.etag && etag && etag !== state.etag);
}

async function verifyOrRemove(path: string, options: DownloadOptions): Promise<string> {
  try {
    return await verify(path, options);
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    throw error;
  }
}
