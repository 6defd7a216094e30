/**
 * sha256 digests: of bytes in memory, and of files streamed in fixed-size chunks so that a
 * multi-gigabyte file never sits in memory whole.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Bytes read per chunk when hashing a file (4 MiB). */
export const HASH_CHUNK_BYTES: number = 1 << 22;

/**
 * sha256 of bytes (a string is hashed as its UTF-8 bytes), as lowercase hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./hash.ts";
 * console.assert(
 *   (await sha256Hex("abc")) ===
 *     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
 * );
 * ```
 */
export async function sha256Hex(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * sha256 of a file's bytes, as lowercase hex, read in chunks of {@link HASH_CHUNK_BYTES}
 * (memory stays bounded whatever the file's size).
 *
 * @example
 * ```ts
 * import { sha256File, sha256Hex } from "./hash.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abc");
 * console.assert((await sha256File(path)) === (await sha256Hex("abc")));
 * await Deno.remove(path);
 * ```
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(HASH_CHUNK_BYTES);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}
