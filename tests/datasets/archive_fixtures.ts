/**
 * Builds small archives for the download and extraction tests: zip through fflate, tar by hand
 * (ustar headers), gzip through CompressionStream.
 * @module
 */
import { zipSync } from "fflate";

const encoder = new TextEncoder();

/** A zip of `files` (path -> text); `level: 0` stores, anything else deflates. */
export function makeZip(
  files: Record<string, string>,
  level: 0 | 6 = 6,
): Uint8Array<ArrayBuffer> {
  const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  for (const [name, content] of Object.entries(files)) {
    entries[name] = [encoder.encode(content), { level }];
  }
  return zipSync(entries).slice();
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function tarHeader(name: string, size: number, type: string): Uint8Array {
  const header = new Uint8Array(512);
  const put = (text: string, offset: number) => header.set(encoder.encode(text), offset);
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(size, 12), 124);
  put(octal(0, 12), 136);
  put("        ", 148);
  put(type, 156);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(octal(sum, 7) + " ", 148);
  return header;
}

/** A tar of `files` (path -> text); names over 100 bytes use a GNU long-name entry. */
export function makeTar(files: Record<string, string>): Uint8Array {
  const blocks: Uint8Array[] = [];
  const pad = (length: number) => new Uint8Array((512 - (length % 512)) % 512);
  for (const [name, content] of Object.entries(files)) {
    if (name.length > 99) {
      const longName = encoder.encode(`${name}\0`);
      blocks.push(tarHeader("././@LongLink", longName.length, "L"), longName, pad(longName.length));
    }
    const data = encoder.encode(content);
    blocks.push(tarHeader(name.slice(0, 99), data.length, "0"), data, pad(data.length));
  }
  blocks.push(new Uint8Array(1024));
  const total = blocks.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const block of blocks) {
    out.set(block, offset);
    offset += block.length;
  }
  return out;
}

/** gzip-compresses bytes. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The sha256 of bytes, hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}
