/**
 * Hostile checkpoints, built in memory for the reader tests and `deno task perf:refusals`:
 * each is small on disk and declares something that must be refused before it is read.
 * @module
 */
import { pickle, type PickleValue } from "../../models/checkpoint/pickle_writer.ts";
import { writeTorchZipArchive } from "../../models/checkpoint/write_pth.ts";

/** One state-dict entry of a hand-made `data.pkl`. */
export interface RawTensor {
  name: string;
  /** The storage class named in the persistent id (`FloatStorage`, or anything hostile). */
  storageClass?: string;
  key: string;
  numel: number;
  offset: number;
  size: number[];
  stride: number[];
}

/** A `data.pkl` whose state dict rebuilds the given tensors, exactly as `torch.save` would. */
export function statePickle(tensors: RawTensor[]): Uint8Array {
  const entries: [string, PickleValue][] = tensors.map((t) => [t.name, {
    call: { global: ["torch._utils", "_rebuild_tensor_v2"] },
    args: [
      {
        persistent: {
          tuple: [
            "storage",
            { global: ["torch", t.storageClass ?? "FloatStorage"] },
            t.key,
            "cpu",
            t.numel,
          ],
        },
      },
      t.offset,
      { tuple: t.size },
      { tuple: t.stride },
      false,
      { orderedDict: [] },
    ],
  }]);
  return pickle({ dict: [["model", { orderedDict: entries }]] });
}

/** Writes a zip checkpoint with the given tensors and storages of `bytesOf(key)` zero bytes. */
export async function writeRawCheckpoint(
  path: string,
  tensors: RawTensor[],
  storageBytes: Record<string, number>,
): Promise<void> {
  await writeTorchZipArchive(
    path,
    statePickle(tensors),
    Object.entries(storageBytes).map(([key, bytes]) => [key, new Uint8Array(bytes)]),
  );
}

/**
 * The case: one 4 MiB float32 storage named by `names` tensors, each claiming the whole
 * storage at a different offset (overlapping views), or all at offset 0 (`sameView`).
 */
export async function writeAliasedCheckpoint(
  path: string,
  names = 256,
  sameView = false,
): Promise<void> {
  const numel = 2 ** 20;
  const tensors = Array.from({ length: names }, (_, i) => ({
    name: `backbone.layer${i}.weight`,
    key: "0",
    numel,
    offset: sameView ? 0 : i,
    size: [numel - (sameView ? 0 : i)],
    stride: [1],
  }));
  await writeRawCheckpoint(path, tensors, { "0": numel * 4 });
}

/** A safetensors file from a header object and `dataBytes` zero bytes of data. */
export function safetensorsBytes(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** A safetensors header that nests `depth` arrays in a tensor's shape. */
export function deepSafetensorsBytes(depth: number): Uint8Array {
  const shape = "[".repeat(depth) + "]".repeat(depth);
  const json = new TextEncoder().encode(
    `{"w":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`,
  );
  const out = new Uint8Array(8 + json.length + 4);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/**
 * Writes a legacy (torch < 1.6) checkpoint: the header pickles, a state dict of `tensors`, the
 * storage key list `keys` (as given, so it may repeat or omit keys), then each listed storage
 * as an int64 element count (`counts[key]`, default its zero bytes / 4) and its zero bytes.
 */
export async function writeRawLegacyCheckpoint(
  path: string,
  tensors: RawTensor[],
  keys: string[],
  storageBytes: Record<string, number>,
  counts: Record<string, number> = {},
): Promise<void> {
  const parts: Uint8Array[] = [
    pickle({ long: 0x1950a86a20f9469cfc6cn }),
    pickle(1001),
    pickle({ dict: [["protocol_version", 1001], ["little_endian", true]] }),
    statePickle(tensors),
    pickle(keys),
  ];
  for (const key of keys) {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(
      0,
      BigInt(counts[key] ?? storageBytes[key] / 4),
      true,
    );
    parts.push(count, new Uint8Array(storageBytes[key]));
  }
  await Deno.writeFile(path, new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()));
}
