/**
 * Reading legacy PyTorch checkpoints (torch < 1.6, `_use_new_zipfile_serialization=False`): a
 * sequence of pickles (magic number, protocol version, sys_info, the object with storages as
 * persistent ids, the list of storage keys) followed by each storage in key order as an int64
 * element count and its bytes. Only the pickles are read up front; tensor bytes are read by
 * offset when asked for.
 *
 * @module
 */
import { BufferReader } from "pickleparser";
import { InputError } from "../../core/errors.ts";
import { readAt } from "./zip.ts";
import {
  type Checkpoint,
  checkViews,
  findStateDict,
  MAX_PICKLE_BYTES,
  type StorageRef,
  tensorPickleParser,
  type TensorRef,
  viewTensors,
} from "./pth.ts";

/** The first pickle of a legacy file: PROTO 2, LONG1 0x1950a86a20f9469cfc6c (10 bytes), STOP. */
const MAGIC_PICKLE = [
  0x80,
  0x02,
  0x8a,
  0x0a,
  0x6c,
  0xfc,
  0x9c,
  0x46,
  0xf9,
  0x20,
  0x6a,
  0xa8,
  0x50,
  0x19,
  0x2e,
];

/** Whether the bytes start like a legacy checkpoint (a protocol-2 pickle of the magic number). */
export function looksLegacy(head: Uint8Array): boolean {
  return head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a;
}

interface Parsed {
  stateDict: Record<string, TensorRef>;
  keys: string[];
  dataStart: number;
}

function parseHeader(bytes: Uint8Array, path: string): Parsed {
  // the magic number is an 80-bit integer, which the pickle parser does not read: compare bytes
  if (!MAGIC_PICKLE.every((byte, i) => bytes[i] === byte)) {
    throw new InputError("not a torch checkpoint (wrong magic number)", {
      file: path,
      value: Array.from(bytes.subarray(0, MAGIC_PICKLE.length)),
    });
  }
  const reader = new BufferReader(bytes.subarray(MAGIC_PICKLE.length));
  const parser = tensorPickleParser(path);
  const protocol = parser.read<number>(reader);
  if (Number(protocol) !== 1001) {
    throw new InputError("unsupported legacy protocol version", { file: path, value: protocol });
  }
  const sysInfo = parser.read<Record<string, unknown>>(reader);
  if (sysInfo && sysInfo.little_endian === false) {
    throw new InputError("big-endian legacy checkpoints are not supported", { file: path });
  }
  const root = parser.read<unknown>(reader);
  const keyList = parser.read<unknown>(reader);
  if (!Array.isArray(keyList)) {
    throw new InputError("the storage key list is not a list", {
      file: path,
      value: typeof keyList,
    });
  }
  const keys = keyList.map(String);
  return {
    stateDict: findStateDict(root, path),
    keys,
    dataStart: MAGIC_PICKLE.length + reader.position,
  };
}

/** Opens a legacy checkpoint. Keys lose a leading `module.`. Close it when done. */
export async function readLegacyCheckpoint(path: string): Promise<Checkpoint> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    // The pickles are small next to the data; read more only when they do not fit.
    let parsed: Parsed | undefined;
    for (let chunk = 4 << 20; !parsed; chunk *= 4) {
      const bytes = await readAt(file, 0, Math.min(chunk, size, MAX_PICKLE_BYTES));
      try {
        parsed = parseHeader(bytes, path);
      } catch (error) {
        if (error instanceof InputError || bytes.length >= size) throw error;
        if (bytes.length >= MAX_PICKLE_BYTES) {
          throw new InputError(
            `the pickles do not parse within their first ${MAX_PICKLE_BYTES} bytes (${
              (error as Error).message
            })`,
            { file: path },
          );
        }
      }
    }
    // storages follow in key order: int64 element count, then the bytes
    const storages = new Map<string, StorageRef>();
    for (const ref of Object.values(parsed.stateDict)) {
      if (ref?.__tensor) storages.set(ref.storage.key, ref.storage);
    }
    const offsets = new Map<string, number>();
    let at = parsed.dataStart;
    for (const key of parsed.keys) {
      const storage = storages.get(key);
      if (!storage) {
        throw new InputError("a storage key in the list has no tensor", { file: path, value: key });
      }
      if (offsets.has(key)) {
        throw new InputError("a storage key is listed twice", { file: path, value: key });
      }
      const header = await readAt(file, at, 8);
      const count = header.length === 8
        ? new DataView(header.buffer, header.byteOffset).getBigInt64(0, true)
        : -1n;
      if (count !== BigInt(storage.numel)) {
        throw new InputError(
          `storage ${key} records ${count} elements at byte ${at}, its tensor says ${storage.numel}`,
          { file: path, field: `storage ${key}`, value: String(count) },
        );
      }
      offsets.set(key, at + 8);
      at += 8 + storage.numel * storage.bytes;
      if (at > size) {
        throw new InputError(`the file is truncated (${size} bytes, the storages need ${at})`, {
          file: path,
          field: `storage ${key}`,
        });
      }
    }
    const views = checkViews(
      parsed.stateDict,
      path,
      (key) => offsets.has(key) ? storages.get(key)!.numel * storages.get(key)!.bytes : undefined,
    );
    const tensors = viewTensors(views, path, ({ ref, count }) =>
      readAt(
        file,
        offsets.get(ref.storage.key)! + ref.offset * ref.storage.bytes,
        count * ref.storage.bytes,
      ));
    return { path, format: "pth-legacy", tensors, close: () => file.close() };
  } catch (error) {
    file.close();
    throw error;
  }
}
