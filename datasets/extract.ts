/**
 * Archive extraction for downloaded datasets, streamed so that archives larger than memory work:
 * zip (read through its central directory, zip64 included, deflate or stored entries, CRC-32
 * checked) and tar (plain or gzip; ustar prefixes, GNU long names and pax paths).
 *
 * Archives are untrusted: entries that would land outside the target folder, two entries of
 * one name, names and tar metadata records over their caps ({@link MAX_ENTRY_NAME_BYTES},
 * {@link MAX_TAR_METADATA_BYTES}, refused before they are buffered) are refused, and an entry is
 * aborted as soon as it writes more than it declares. Everything is unpacked into a staging
 * folder beside the target and moved into place only when the whole archive succeeded, so a
 * refused or broken archive leaves nothing behind.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, normalize, sep } from "node:path";
import { Inflate } from "fflate";
import { crc32Update } from "../core/crc32.ts";

/** An archive is malformed or unsafe. */
export class ArchiveError extends Error {
  /** The error's name. */
  override name = "ArchiveError";
}

/** Which archive formats {@link extractArchive} understands, by file name. */
export function archiveKind(path: string): "zip" | "tar" | "tar.gz" | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith(".zip")) return "zip";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return "tar.gz";
  if (lower.endsWith(".tar")) return "tar";
  return undefined;
}

/** Options of {@link extractArchive}. */
export interface ExtractOptions {
  /** Called after each file with the count so far. */
  onEntry?: (files: number, name: string) => void;
}

/** Compressed bytes given to a decompressor at a time (bounds its output to ~16 MiB). */
const INFLATE_SLICE = 1 << 14;

/** The longest entry name accepted, in bytes (Linux's PATH_MAX). */
export const MAX_ENTRY_NAME_BYTES = 4096;
/** The largest tar metadata record (pax header, GNU long name) accepted, in bytes. */
export const MAX_TAR_METADATA_BYTES = 1 << 20;

/**
 * Extracts a `.zip`, `.tar` or `.tar.gz`/`.tgz` into `targetDir`; returns the number of files.
 * The archive is unpacked into a staging folder beside `targetDir` and moved into place only
 * when every entry succeeded (existing files of the same name are replaced; other files in
 * `targetDir` are kept). On any error nothing is left behind.
 *
 * @example
 * ```ts ignore
 * import { extractArchive } from "./extract.ts";
 * await extractArchive("DATASET/odinw/Aquarium.zip", "DATASET/odinw");
 * ```
 */
export async function extractArchive(
  archive: string,
  targetDir: string,
  options: ExtractOptions = {},
): Promise<number> {
  const kind = archiveKind(archive);
  if (kind === undefined) {
    throw new ArchiveError(
      `${archive}: unknown archive type (expected .zip, .tar, .tar.gz or .tgz)`,
    );
  }
  const parent = dirname(targetDir);
  await Deno.mkdir(parent, { recursive: true });
  const staging = await Deno.makeTempDir({
    dir: parent,
    prefix: `.${basename(targetDir)}.extracting-`,
  });
  try {
    const names = new Names(archive);
    const files = kind === "zip"
      ? await extractZip(archive, staging, names, options)
      : await extractTar(archive, staging, names, kind === "tar.gz", options);
    await Deno.mkdir(targetDir, { recursive: true });
    await moveInto(staging, targetDir);
    return files;
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/** Moves the contents of `from` into `to`, merging folders and replacing files. */
async function moveInto(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    let existing: Deno.FileInfo | undefined;
    try {
      existing = await Deno.lstat(target);
    } catch {
      existing = undefined;
    }
    if (entry.isDirectory && existing?.isDirectory) {
      await moveInto(source, target);
      continue;
    }
    if (existing) await Deno.remove(target, { recursive: true });
    await Deno.rename(source, target);
  }
}

/** The entry names seen so far: each name is checked once, and a second one is refused. */
class Names {
  #seen = new Set<string>();
  constructor(readonly archive: string) {}

  /** The path of an entry under `root`; refuses escaping, over-long and repeated names. */
  claim(root: string, name: string): string {
    if (new TextEncoder().encode(name).length > MAX_ENTRY_NAME_BYTES) {
      throw new ArchiveError(
        `${this.archive}: an entry name is longer than ${MAX_ENTRY_NAME_BYTES} bytes ('${
          name.slice(0, 80)
        }...')`,
      );
    }
    if (name.includes("\0")) {
      throw new ArchiveError(`${this.archive}: entry '${name}' has a NUL byte in its name`);
    }
    const path = safeEntryPath(this.archive, root, name);
    const key = normalize(name.replaceAll("\\", "/")).replace(/\/+$/, "");
    if (this.#seen.has(key)) {
      throw new ArchiveError(
        `${this.archive}: entry '${name}' appears twice; refusing to pick one of them`,
      );
    }
    this.#seen.add(key);
    return path;
  }
}

/** The path an entry extracts to, or an error when it would escape `targetDir`. */
export function safeEntryPath(archive: string, targetDir: string, name: string): string {
  const cleaned = name.replaceAll("\\", "/");
  const relative = normalize(cleaned);
  if (
    isAbsolute(cleaned) || relative === ".." || relative.startsWith(`..${sep}`) ||
    relative.startsWith("../")
  ) {
    throw new ArchiveError(`${archive}: entry '${name}' would extract outside the target folder`);
  }
  return join(targetDir, relative);
}

// ---- zip ----------------------------------------------------------------------------------

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let read = 0;
  while (read < length) {
    const n = await file.read(buffer.subarray(read));
    if (n === null) throw new ArchiveError(`unexpected end of file at byte ${offset + read}`);
    read += n;
  }
  return buffer;
}

function u64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 2 ** 32;
}

async function readZipDirectory(archive: string, file: Deno.FsFile): Promise<ZipEntry[]> {
  const fileSize = (await file.stat()).size;
  const tailLength = Math.min(fileSize, 65557);
  const tail = await readAt(file, fileSize - tailLength, tailLength);
  const view = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new ArchiveError(`${archive}: not a zip file (no end-of-central-directory record)`);
  }
  let count = view.getUint16(eocd + 10, true);
  let directorySize = view.getUint32(eocd + 12, true);
  let directoryOffset = view.getUint32(eocd + 16, true);
  if (
    (count === 0xffff || directoryOffset === 0xffffffff) && eocd >= 20 &&
    view.getUint32(eocd - 20, true) === 0x07064b50
  ) {
    const recordOffset = u64(view, eocd - 20 + 8);
    const record = new DataView((await readAt(file, recordOffset, 56)).buffer);
    if (record.getUint32(0, true) !== 0x06064b50) {
      throw new ArchiveError(`${archive}: broken zip64 end-of-central-directory record`);
    }
    count = u64(record, 32);
    directorySize = u64(record, 40);
    directoryOffset = u64(record, 48);
  }
  if (directoryOffset + directorySize > fileSize || count * 46 > directorySize) {
    throw new ArchiveError(
      `${archive}: the central directory (${count} entries, ${directorySize} bytes at ${directoryOffset}) does not fit in the file (${fileSize} bytes)`,
    );
  }
  const directory = await readAt(file, directoryOffset, directorySize);
  const dir = new DataView(directory.buffer);
  const decoder = new TextDecoder();
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > directory.length || dir.getUint32(p, true) !== 0x02014b50) {
      throw new ArchiveError(`${archive}: broken central directory at entry ${i}`);
    }
    const nameLength = dir.getUint16(p + 28, true);
    const extraLength = dir.getUint16(p + 30, true);
    const commentLength = dir.getUint16(p + 32, true);
    if (p + 46 + nameLength + extraLength + commentLength > directory.length) {
      throw new ArchiveError(`${archive}: broken central directory at entry ${i}`);
    }
    const entry: ZipEntry = {
      name: decoder.decode(directory.subarray(p + 46, p + 46 + nameLength)),
      method: dir.getUint16(p + 10, true),
      crc: dir.getUint32(p + 16, true),
      compressedSize: dir.getUint32(p + 20, true),
      size: dir.getUint32(p + 24, true),
      localOffset: dir.getUint32(p + 42, true),
    };
    // zip64 extra field: the 64-bit values of the fields that hold 0xffffffff, in this order
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = dir.getUint16(e, true);
      const length = dir.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (entry.size === 0xffffffff) entry.size = u64(dir, (q += 8) - 8);
        if (entry.compressedSize === 0xffffffff) entry.compressedSize = u64(dir, (q += 8) - 8);
        if (entry.localOffset === 0xffffffff) entry.localOffset = u64(dir, q);
      }
      e += 4 + length;
    }
    entries.push(entry);
    p = extraEnd + commentLength;
  }
  return entries;
}

async function extractZip(
  archive: string,
  targetDir: string,
  names: Names,
  options: ExtractOptions,
): Promise<number> {
  using file = await Deno.open(archive, { read: true });
  const fileSize = (await file.stat()).size;
  const entries = await readZipDirectory(archive, file);
  // every name is checked (escapes, caps, duplicates) before the first byte is written
  const paths = entries.map((entry) => names.claim(targetDir, entry.name));
  let files = 0;
  for (const [index, entry] of entries.entries()) {
    const path = paths[index];
    if (entry.name.endsWith("/")) {
      await Deno.mkdir(path, { recursive: true });
      continue;
    }
    if (entry.method !== 0 && entry.method !== 8) {
      throw new ArchiveError(
        `${archive}: entry '${entry.name}' uses compression method ${entry.method} (only stored and deflate are supported)`,
      );
    }
    const local = new DataView((await readAt(file, entry.localOffset, 30)).buffer);
    if (local.getUint32(0, true) !== 0x04034b50) {
      throw new ArchiveError(`${archive}: broken local header for '${entry.name}'`);
    }
    const dataOffset = entry.localOffset + 30 + local.getUint16(26, true) +
      local.getUint16(28, true);
    if (dataOffset + entry.compressedSize > fileSize) {
      throw new ArchiveError(
        `${archive}: entry '${entry.name}' declares ${entry.compressedSize} bytes at ${dataOffset}, past the end of the file (${fileSize} bytes)`,
      );
    }
    if (entry.method === 0 && entry.compressedSize !== entry.size) {
      throw new ArchiveError(
        `${archive}: stored entry '${entry.name}' declares ${entry.size} bytes but holds ${entry.compressedSize}`,
      );
    }
    await Deno.mkdir(dirname(path), { recursive: true });
    using out = await Deno.open(path, { write: true, create: true, truncate: true });
    let crc = 0;
    let written = 0;
    const pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let overflow = false;
    const inflate = entry.method === 8
      ? new Inflate((chunk) => {
        // beyond the declared size nothing is kept: a bomb is refused without holding it
        pendingBytes += chunk.length;
        if (written + pendingBytes > entry.size) overflow = true;
        else pending.push(chunk);
      })
      : undefined;
    const tooLong = () =>
      new ArchiveError(
        `${archive}: entry '${entry.name}' inflates past its declared ${entry.size} bytes; extraction stopped`,
      );
    const flush = async () => {
      for (const chunk of pending.splice(0)) {
        if (written + chunk.length > entry.size) throw tooLong();
        crc = crc32Update(crc, chunk);
        written += chunk.length;
        let n = 0;
        while (n < chunk.length) n += await out.write(chunk.subarray(n));
      }
    };
    const step = 1 << 20;
    for (let done = 0; done < entry.compressedSize || entry.compressedSize === 0; done += step) {
      const length = Math.min(step, entry.compressedSize - done);
      const chunk = length > 0 ? await readAt(file, dataOffset + done, length) : new Uint8Array();
      const last = done + length >= entry.compressedSize;
      // fed to the inflater in small slices: deflate expands up to ~1032x, so at most ~16 MiB
      // of output exists at a time, and a bomb is stopped within one slice of its declared size
      for (let at = 0; at < chunk.length || at === 0; at += INFLATE_SLICE) {
        const slice = chunk.subarray(at, at + INFLATE_SLICE);
        const final = last && at + INFLATE_SLICE >= chunk.length;
        try {
          if (inflate) inflate.push(slice, final);
          else pending.push(slice);
        } catch (error) {
          throw new ArchiveError(
            `${archive}: entry '${entry.name}' does not inflate (${(error as Error).message})`,
          );
        }
        if (overflow) throw tooLong();
        await flush();
        pendingBytes = 0;
        if (chunk.length === 0) break;
      }
      if (last) break;
    }
    if (written !== entry.size || crc !== entry.crc) {
      throw new ArchiveError(
        `${archive}: entry '${entry.name}' is corrupted (${written} bytes, CRC-32 ${
          crc.toString(16)
        }; expected ${entry.size} bytes, CRC-32 ${entry.crc.toString(16)})`,
      );
    }
    files++;
    options.onEntry?.(files, entry.name);
  }
  return files;
}

// ---- tar ----------------------------------------------------------------------------------

/** Reads exact byte counts from a stream. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = new Uint8Array(0);
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }
  /** Up to `n` bytes (fewer only at the end of the stream). */
  async read(n: number): Promise<Uint8Array> {
    while (this.#buffer.length < n) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      const joined = new Uint8Array(this.#buffer.length + value.length);
      joined.set(this.#buffer);
      joined.set(value, this.#buffer.length);
      this.#buffer = joined;
    }
    const out = this.#buffer.subarray(0, Math.min(n, this.#buffer.length));
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }
  /** Skips `n` bytes without holding them; returns how many were skipped. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const chunk = await this.read(Math.min(left, 1 << 20));
      if (chunk.length === 0) break;
      left -= chunk.length;
    }
    return n - left;
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

/** Cuts a byte stream into pieces of at most `size` bytes (views, no copies). */
function slices(size: number): TransformStream<Uint8Array, Uint8Array<ArrayBuffer>> {
  return new TransformStream({
    transform(chunk, controller) {
      for (let at = 0; at < chunk.length; at += size) {
        controller.enqueue(chunk.subarray(at, at + size) as Uint8Array<ArrayBuffer>);
      }
    },
  });
}

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function tarNumber(bytes: Uint8Array): number {
  if (bytes[0] & 0x80) {
    let value = bytes[0] & 0x7f;
    for (let i = 1; i < bytes.length; i++) value = value * 256 + bytes[i];
    return value;
  }
  const digits = text(bytes).trim();
  return digits === "" ? 0 : parseInt(digits, 8);
}

function paxPath(records: string): string | undefined {
  let path: string | undefined;
  for (const line of records.split("\n")) {
    const match = /^\d+ ([^=]+)=(.*)$/.exec(line);
    if (match && match[1] === "path") path = match[2];
  }
  return path;
}

async function extractTar(
  archive: string,
  targetDir: string,
  names: Names,
  gzip: boolean,
  options: ExtractOptions,
): Promise<number> {
  const file = await Deno.open(archive, { read: true });
  const stream = gzip
    ? file.readable.pipeThrough(slices(INFLATE_SLICE)).pipeThrough(new DecompressionStream("gzip"))
    : file.readable;
  const reader = new ByteReader(stream);
  let files = 0;
  let longName: string | undefined;
  try {
    while (true) {
      const header = await reader.read(512);
      if (header.length === 0) break;
      if (header.length < 512) throw new ArchiveError(`${archive}: truncated tar header`);
      if (header.every((b) => b === 0)) break;
      const size = tarNumber(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] || 48);
      const prefix = text(header.subarray(345, 500));
      const baseName = text(header.subarray(0, 100));
      const name = longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
      const padded = Math.ceil(size / 512) * 512;
      if (type === "L" || type === "x" || type === "g") {
        if (size > MAX_TAR_METADATA_BYTES) {
          throw new ArchiveError(
            `${archive}: a ${
              type === "L" ? "GNU long-name" : "pax"
            } record of ${size} bytes (the limit is ${MAX_TAR_METADATA_BYTES}) before '${name}'`,
          );
        }
        const data = await reader.read(padded);
        if (data.length < padded) throw new ArchiveError(`${archive}: truncated tar entry`);
        const content = new TextDecoder().decode(data.subarray(0, size));
        if (type === "L") longName = content.replace(/\0+$/, "");
        if (type === "x") longName = paxPath(content) ?? longName;
        continue;
      }
      longName = undefined;
      if (type !== "0" && type !== "7" && type !== "5") {
        // links, devices and fifos are not dataset content: skip their data unread
        await reader.skip(padded);
        continue;
      }
      const path = names.claim(targetDir, name);
      if (type === "5") {
        await Deno.mkdir(path, { recursive: true });
        await reader.skip(padded);
        continue;
      }
      await Deno.mkdir(dirname(path), { recursive: true });
      using out = await Deno.open(path, { write: true, create: true, truncate: true });
      let left = size;
      while (left > 0) {
        const chunk = await reader.read(Math.min(left, 1 << 20));
        if (chunk.length === 0) {
          throw new ArchiveError(
            `${archive}: entry '${name}' is truncated (${left} bytes missing)`,
          );
        }
        let n = 0;
        while (n < chunk.length) n += await out.write(chunk.subarray(n));
        left -= chunk.length;
      }
      const padding = padded - size;
      if (padding > 0) await reader.skip(padding);
      files++;
      options.onEntry?.(files, name);
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError(`${archive}: cannot read the archive (${(error as Error).message})`);
  } finally {
    await reader.cancel().catch(() => {});
  }
  return files;
}
