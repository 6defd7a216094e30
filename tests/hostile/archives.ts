/**
 * Hostile archives, built in memory for the extraction tests and `deno task perf:refusals`.
 * @module
 */
import { makeZip } from "../datasets/archive_fixtures.ts";

/** A 512-byte ustar header of `type` declaring `size` bytes. */
function tarHeader(name: string, size: number, type: string): Uint8Array {
  const header = new Uint8Array(512);
  const put = (text: string, offset: number) => header.set(new TextEncoder().encode(text), offset);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(size, 12), 124);
  put("        ", 148);
  put(type, 156);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(octal(sum, 7) + " ", 148);
  return header;
}

/**
 * A tar whose first record is a pax header declaring `declared` bytes, followed by `present`
 * zero bytes of it (all of them for the full 256 MiB case, which gzips to about 255 KB).
 */
export function paxBombTar(declared: number, present = declared): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(512 + present);
  out.set(tarHeader("PaxHeaders/bomb", declared, "x"));
  return out;
}

/**
 * A deflated zip whose entry `name` declares `declared` uncompressed bytes (in both its local
 * and central headers) but inflates to its real content.
 */
export function zipDeclaringLess(
  files: Record<string, string>,
  name: string,
  declared: number,
): Uint8Array {
  const zip = makeZip(files, 6);
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const nameBytes = new TextEncoder().encode(name);
  const matches = (at: number) => nameBytes.every((b, i) => zip[at + i] === b);
  for (let p = 0; p + 4 <= zip.length; p++) {
    const signature = view.getUint32(p, true);
    if (signature === 0x04034b50 && matches(p + 30)) view.setUint32(p + 22, declared, true);
    if (signature === 0x02014b50 && matches(p + 46)) view.setUint32(p + 24, declared, true);
  }
  return zip;
}
