/**
 * Random-access reading of STORED zip archives (what `torch.save` writes) straight from the
 * file: the central directory is parsed once, and each entry is read by offset when needed, so
 * a multi-gigabyte checkpoint is never copied whole into memory.
 *
 * @module
 */
import { InputError } from "../../core/errors.ts";

/** One archive entry. */
export interface ZipEntry {
  name: string;
  /** Offset of the entry's data in the file. */
  dataOffset: number;
  size: number;
  compressed: boolean;
}

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
export async function readAt(
  file: Deno.FsFile,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let done = 0;
  while (done < length) {
    const n = await file.read(bytes.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done === length ? bytes : bytes.subarray(0, done);
}

/** A zip archive opened for random access. */
export class ZipReader {
  private constructor(
    readonly path: string,
    readonly file: Deno.FsFile,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  /** Opens `path` and reads its central directory. */
  static async open(path: string): Promise<ZipReader> {
    const file = await Deno.open(path, { read: true });
    try {
      const size = (await file.stat()).size;
      const tailLength = Math.min(size, 65557 + 20);
      const tail = await readAt(file, size - tailLength, tailLength);
      const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
      let eocd = -1;
      for (let i = tail.length - 22; i >= 0; i--) {
        if (view.getUint32(i, true) === 0x06054b50) {
          eocd = i;
          break;
        }
      }
      if (eocd < 0) {
        throw new InputError("not a zip archive (no end of central directory)", { file: path });
      }
      let count = view.getUint16(eocd + 10, true);
      let cdSize = view.getUint32(eocd + 12, true);
      let cdOffset = view.getUint32(eocd + 16, true);
      if (cdOffset === 0xffffffff || count === 0xffff) {
        const locator = eocd - 20;
        if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) {
          throw new InputError("zip64 archive without a zip64 locator", { file: path });
        }
        const zip64Offset = Number(view.getBigUint64(locator + 8, true));
        const record = await readAt(file, zip64Offset, 56);
        const rv = new DataView(record.buffer, record.byteOffset, record.byteLength);
        if (record.length < 56 || rv.getUint32(0, true) !== 0x06064b50) {
          throw new InputError("broken zip64 end of central directory record", {
            file: path,
            field: `byte ${zip64Offset}`,
          });
        }
        count = Number(rv.getBigUint64(32, true));
        cdSize = Number(rv.getBigUint64(40, true));
        cdOffset = Number(rv.getBigUint64(48, true));
      }
      if (cdOffset + cdSize > size || count * 46 > cdSize) {
        throw new InputError(
          `the central directory (${count} entries, ${cdSize} bytes at ${cdOffset}) does not fit in the file (${size} bytes)`,
          { file: path },
        );
      }
      const cd = await readAt(file, cdOffset, cdSize);
      const cv = new DataView(cd.buffer);
      const entries = new Map<string, ZipEntry>();
      let p = 0;
      for (let i = 0; i < count; i++) {
        if (p + 46 > cd.length || cv.getUint32(p, true) !== 0x02014b50) {
          throw new InputError(`corrupt zip central directory at entry ${i}`, { file: path });
        }
        const method = cv.getUint16(p + 10, true);
        let compressedSize = cv.getUint32(p + 20, true);
        let uncompressedSize = cv.getUint32(p + 24, true);
        const nameLength = cv.getUint16(p + 28, true);
        const extraLength = cv.getUint16(p + 30, true);
        const commentLength = cv.getUint16(p + 32, true);
        let localOffset = cv.getUint32(p + 42, true);
        const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLength));
        let e = p + 46 + nameLength;
        const extraEnd = e + extraLength;
        if (extraEnd + commentLength > cd.length) {
          throw new InputError(`corrupt zip central directory at entry ${i}`, {
            file: path,
            field: name,
          });
        }
        while (e + 4 <= extraEnd) {
          const id = cv.getUint16(e, true);
          const length = cv.getUint16(e + 2, true);
          if (id === 0x0001) {
            let q = e + 4;
            if (uncompressedSize === 0xffffffff) {
              uncompressedSize = Number(cv.getBigUint64(q, true));
              q += 8;
            }
            if (compressedSize === 0xffffffff) {
              compressedSize = Number(cv.getBigUint64(q, true));
              q += 8;
            }
            if (localOffset === 0xffffffff) localOffset = Number(cv.getBigUint64(q, true));
          }
          e += 4 + length;
        }
        const local = await readAt(file, localOffset, 30);
        const lv = new DataView(local.buffer);
        if (local.length < 30 || lv.getUint32(0, true) !== 0x04034b50) {
          throw new InputError("broken local header", {
            file: path,
            field: name,
            value: localOffset,
          });
        }
        const dataOffset = localOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
        if (dataOffset + compressedSize > size) {
          throw new InputError(
            `entry data (${compressedSize} bytes at ${dataOffset}) runs past the end of the file (${size} bytes)`,
            { file: path, field: name },
          );
        }
        if (entries.has(name)) {
          throw new InputError("the archive holds two entries of this name", {
            file: path,
            field: name,
          });
        }
        entries.set(name, { name, dataOffset, size: compressedSize, compressed: method !== 0 });
        p += 46 + nameLength + extraLength + commentLength;
      }
      return new ZipReader(path, file, entries);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Reads `length` bytes of an entry from `offset` within it. */
  async read(name: string, offset = 0, length?: number): Promise<Uint8Array> {
    const entry = this.entries.get(name);
    if (!entry) throw new InputError(`missing archive entry ${name}`, { file: this.path });
    if (entry.compressed) {
      throw new InputError(
        `entry ${name} is compressed; torch checkpoints store entries uncompressed`,
        {
          file: this.path,
        },
      );
    }
    const size = length ?? entry.size - offset;
    if (offset < 0 || size < 0 || offset + size > entry.size) {
      throw new InputError(`read past the end of entry ${name}`, {
        file: this.path,
        value: offset + size,
      });
    }
    return await readAt(this.file, entry.dataOffset + offset, size);
  }

  close(): void {
    this.file.close();
  }
}
