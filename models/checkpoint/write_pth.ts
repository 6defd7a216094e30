/**
 * Writing PyTorch checkpoints without Python, for test data and conversions:
 *
 * - {@link writeTorchZipCheckpoint}: the `torch.save` format of torch >= 1.6, a stored (not
 *   compressed) zip with `archive/data.pkl` (pickle protocol 2: an OrderedDict of
 *   `torch._utils._rebuild_tensor_v2` calls whose storages are persistent ids), each storage as
 *   `archive/data/<key>` with its data 64-byte aligned, `archive/byteorder` and `archive/version`.
 * - {@link writeLegacyCheckpoint}: the pre-1.6 format: magic number, protocol version and
 *   sys_info pickles, the object pickle, the storage key list, then each storage as an int64
 *   element count followed by its bytes.
 *
 * Tensors are streamed: `data(i)` is asked for one tensor at a time, so a GLIP-T-sized file
 * (about 0.7 GB) is never held in memory twice.
 *
 * @module
 */
import { crc32Update } from "../../core/crc32.ts";
import { pickle, type PickleValue } from "./pickle_writer.ts";
import { STORAGE_DTYPES, type TensorDtype } from "./pth.ts";

/** Name, element type and shape of one tensor to write. */
export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  shape: number[];
}

/** Options of the writers. */
export interface WriteOptions {
  /** Wrap the state dict as `{"model": state_dict}`, as GLIP's checkpoints are. @default true */
  wrapModel?: boolean;
}

const STORAGE_CLASS: Record<TensorDtype, string> = Object.fromEntries(
  Object.entries(STORAGE_DTYPES).map(([name, { dtype }]) => [dtype, name]),
) as Record<TensorDtype, string>;

function elementBytes(dtype: TensorDtype): number {
  return STORAGE_DTYPES[STORAGE_CLASS[dtype]].bytes;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function contiguousStride(shape: number[]): number[] {
  const stride = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) stride[i] = stride[i + 1] * shape[i + 1];
  return stride;
}

/** The object pickle: the state dict of `_rebuild_tensor_v2` calls over persistent storages. */
function statePickle(specs: TensorSpec[], legacy: boolean, wrap: boolean): Uint8Array {
  const entries: [string, PickleValue][] = specs.map((spec, i) => {
    const storage: PickleValue = {
      persistent: {
        tuple: [
          "storage",
          { global: ["torch", STORAGE_CLASS[spec.dtype]] },
          String(i),
          "cpu",
          numel(spec.shape),
          ...(legacy ? [null] : []),
        ],
      },
    };
    return [spec.name, {
      call: { global: ["torch._utils", "_rebuild_tensor_v2"] },
      args: [
        storage,
        0,
        { tuple: spec.shape },
        { tuple: contiguousStride(spec.shape) },
        false,
        { orderedDict: [] },
      ],
    }];
  });
  const state: PickleValue = { orderedDict: entries };
  return pickle(wrap ? { dict: [["model", state]] } : state);
}

function checkData(spec: TensorSpec, bytes: Uint8Array): void {
  const expected = numel(spec.shape) * elementBytes(spec.dtype);
  if (bytes.byteLength !== expected) {
    throw new RangeError(
      `tensor ${spec.name}: ${bytes.byteLength} bytes given, shape [${spec.shape}] of ${spec.dtype} needs ${expected}`,
    );
  }
}

/** A stored-zip writer that streams entries to a file, aligning data to 64 bytes. */
class ZipWriter {
  #offset = 0;
  #central: Uint8Array[] = [];
  #count = 0;
  private constructor(readonly file: Deno.FsFile) {}

  static async create(path: string): Promise<ZipWriter> {
    return new ZipWriter(await Deno.open(path, { write: true, create: true, truncate: true }));
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) done += await this.file.write(bytes.subarray(done));
    this.#offset += bytes.length;
  }

  async add(name: string, data: Uint8Array): Promise<void> {
    const nameBytes = new TextEncoder().encode(name);
    const headerEnd = this.#offset + 30 + nameBytes.length;
    // torch pads the local header's extra field ("FB" records) so data starts 64-byte aligned
    const pad = (64 - ((headerEnd + 4) % 64)) % 64;
    const extra = new Uint8Array(4 + pad);
    new DataView(extra.buffer).setUint16(0, 0x4246, true);
    new DataView(extra.buffer).setUint16(2, pad, true);
    const crc = crc32Update(0, data);
    if (this.#offset + 30 + nameBytes.length + extra.length + data.length >= 2 ** 32) {
      throw new RangeError("writing zip files over 4 GiB (zip64) is not implemented");
    }
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true); // version needed
    local.setUint16(8, 0, true); // stored
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, nameBytes.length, true);
    local.setUint16(28, extra.length, true);
    const localOffset = this.#offset;
    await this.#write(new Uint8Array(local.buffer));
    await this.#write(nameBytes);
    await this.#write(extra);
    await this.#write(data);
    const central = new DataView(new ArrayBuffer(46 + nameBytes.length));
    central.setUint32(0, 0x02014b50, true);
    central.setUint16(4, 20, true);
    central.setUint16(6, 20, true);
    central.setUint32(16, crc, true);
    central.setUint32(20, data.length, true);
    central.setUint32(24, data.length, true);
    central.setUint16(28, nameBytes.length, true);
    central.setUint32(42, localOffset, true);
    const record = new Uint8Array(central.buffer);
    record.set(nameBytes, 46);
    this.#central.push(record);
    this.#count++;
  }

  async close(): Promise<void> {
    const start = this.#offset;
    for (const record of this.#central) await this.#write(record);
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, this.#count, true);
    end.setUint16(10, this.#count, true);
    end.setUint32(12, this.#offset - start, true);
    end.setUint32(16, start, true);
    await this.#write(new Uint8Array(end.buffer));
    this.file.close();
  }
}

/**
 * Writes a torch >= 1.6 zip checkpoint. `data(i)` returns tensor i's little-endian bytes.
 *
 * @example
 * ```ts ignore
 * await writeTorchZipCheckpoint("w.pth", [{ name: "fc.weight", dtype: "float32", shape: [2, 2] }],
 *   () => new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
 * ```
 */
export async function writeTorchZipCheckpoint(
  path: string,
  specs: TensorSpec[],
  data: (index: number) => Uint8Array | Promise<Uint8Array>,
  options: WriteOptions = {},
): Promise<void> {
  const zip = await ZipWriter.create(path);
  try {
    await zip.add("archive/data.pkl", statePickle(specs, false, options.wrapModel ?? true));
    await zip.add("archive/byteorder", new TextEncoder().encode("little"));
    for (const [i, spec] of specs.entries()) {
      const bytes = await data(i);
      checkData(spec, bytes);
      await zip.add(`archive/data/${i}`, bytes);
    }
    await zip.add("archive/version", new TextEncoder().encode("3\n"));
  } finally {
    await zip.close();
  }
}

/**
 * Writes a torch zip archive from a ready-made `data.pkl` and storages by key (test data for
 * the reader's refusals, and conversions that build their own pickle).
 */
export async function writeTorchZipArchive(
  path: string,
  dataPickle: Uint8Array,
  storages: Iterable<[string, Uint8Array]>,
): Promise<void> {
  const zip = await ZipWriter.create(path);
  try {
    await zip.add("archive/data.pkl", dataPickle);
    for (const [key, bytes] of storages) await zip.add(`archive/data/${key}`, bytes);
    await zip.add("archive/version", new TextEncoder().encode("3\n"));
  } finally {
    await zip.close();
  }
}

/** Writes a legacy (torch < 1.6) checkpoint, streamed like {@link writeTorchZipCheckpoint}. */
export async function writeLegacyCheckpoint(
  path: string,
  specs: TensorSpec[],
  data: (index: number) => Uint8Array | Promise<Uint8Array>,
  options: WriteOptions = {},
): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const write = async (bytes: Uint8Array) => {
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
  };
  await write(pickle({ long: 0x1950a86a20f9469cfc6cn }));
  await write(pickle(1001));
  await write(pickle({
    dict: [
      ["protocol_version", 1001],
      ["little_endian", true],
      ["type_sizes", { dict: [["short", 2], ["int", 4], ["long", 4]] }],
    ],
  }));
  await write(statePickle(specs, true, options.wrapModel ?? true));
  await write(pickle(specs.map((_, i) => String(i))));
  for (const [i, spec] of specs.entries()) {
    const bytes = await data(i);
    checkData(spec, bytes);
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(numel(spec.shape)), true);
    await write(count);
    await write(bytes);
  }
}
