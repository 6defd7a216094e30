/**
 * Downloads with resume and verification: bytes go to `<dest>.part`; a retry asks the server for
 * the rest with an HTTP `Range` request and appends; the finished file is checked against its
 * known size and sha256 (when known) before it takes its final name. A corrupted file is removed
 * and reported with both hashes, never kept silently.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";

/** Progress of one download: bytes on disk so far and the total when the server says. */
export type DownloadProgress = (done: number, total: number | undefined) => void;

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** Expected sha256 (hex); the file is rejected when it differs. */
  sha256?: string;
  /** Expected size in bytes; the file is rejected when it differs. */
  size?: number;
  /** Called as bytes arrive. */
  onProgress?: DownloadProgress;
  /** `fetch` to use (tests may wrap it). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Bytes that were already on disk from an interrupted attempt. */
  resumedFrom: number;
  /** True when the file was already complete and verified (nothing fetched). */
  alreadyPresent: boolean;
}

/** A download failed: the server refused, the transfer broke, or the bytes do not verify. */
export class DownloadError extends Error {
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
  if (options.size !== undefined && size !== options.size) {
    throw new DownloadError(
      `${path}: expected ${options.size} bytes, got ${size}; the file was removed, run again`,
    );
  }
  const digest = await sha256File(path);
  if (options.sha256 && digest !== options.sha256.toLowerCase()) {
    throw new DownloadError(
      `${path}: sha256 mismatch (expected ${options.sha256}, got ${digest}); the corrupted file was removed, run again`,
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
  let offset = (await fileSize(part)) ?? 0;
  const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
  let response: Response;
  try {
    response = await doFetch(url, { headers });
  } catch (error) {
    throw new DownloadError(`${url}: cannot connect (${(error as Error).message})`);
  }
  if (response.status === 416 && offset > 0) {
    // The part file already holds every byte: nothing left to fetch.
    await response.body?.cancel();
  } else {
    if (!response.ok) {
      await response.body?.cancel();
      throw new DownloadError(`${url}: HTTP ${response.status} ${response.statusText}`);
    }
    if (response.status !== 206) offset = 0; // the server ignored Range: start over
    const length = Number(response.headers.get("content-length") ?? NaN);
    const total = Number.isFinite(length) ? offset + length : options.size;
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
  const sha256 = await verifyOrRemove(part, options);
  await Deno.rename(part, dest);
  return {
    path: dest,
    bytes: (await Deno.stat(dest)).size,
    sha256,
    resumedFrom: offset,
    alreadyPresent: false,
  };
}

async function verifyOrRemove(path: string, options: DownloadOptions): Promise<string> {
  try {
    return await verify(path, options);
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    throw error;
  }
}
