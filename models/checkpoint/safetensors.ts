/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data.
 * Tensors are read from the file by offset when asked for.
 *
 * @module
 */
import { InputError } from "../../core/errors.ts";
import { bytesToFloat32, type Checkpoint, type CheckpointTensor, type TensorDtype } from "./pth.ts";
import { readAt } from "./zip.ts";

const DTYPES: Record<string, { dtype: TensorDtype; bytes: number }> = {
  F32: { dtype: "float32", bytes: 4 },
  F16: { dtype: "float16", bytes: 2 },
  BF16: { dtype: "bfloat16", bytes: 2 },
  F64: { dtype: "float64", bytes: 8 },
  I64: { dtype: "int64", bytes: 8 },
  I32: { dtype: "int32", bytes: 4 },
  I16: { dtype: "int16", bytes: 2 },
  I8: { dtype: "int8", bytes: 1 },
  U8: { dtype: "uint8", bytes: 1 },
  BOOL: { dtype: "bool", bytes: 1 },
};

/** Opens a safetensors file (keys lose a leading `module.`). Close it when done. */
export async function readSafetensors(path: string): Promise<Checkpoint> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    const headerLength = Number(
      new DataView((await readAt(file, 0, 8)).buffer).getBigUint64(0, true),
    );
    if (headerLength <= 0 || 8 + headerLength > size) {
      throw new InputError("not a safetensors file (bad header length)", {
        file: path,
        value: headerLength,
      });
    }
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    try {
      header = JSON.parse(new TextDecoder().decode(await readAt(file, 8, headerLength)));
    } catch (error) {
      throw new InputError(`safetensors header is not valid JSON (${(error as Error).message})`, {
        file: path,
      });
    }
    const base = 8 + headerLength;
    const tensors = new Map<string, CheckpointTensor>();
    for (const [rawName, entry] of Object.entries(header)) {
      if (rawName === "__metadata__") continue;
      const info = DTYPES[entry.dtype];
      if (!info) {
        throw new InputError("unsupported dtype", {
          file: path,
          field: `${rawName}.dtype`,
          value: entry.dtype,
        });
      }
      const count = entry.shape.reduce((a, b) => a * b, 1);
      const [begin, end] = entry.data_offsets;
      if (base + end > size) {
        throw new InputError(`data_offsets end past the file (${base + end} > ${size} bytes)`, {
          file: path,
          field: rawName,
        });
      }
      if (end - begin !== count * info.bytes) {
        throw new InputError(
          `data_offsets span ${end - begin} bytes, shape [${entry.shape}] needs ${
            count * info.bytes
          }`,
          {
            file: path,
            field: rawName,
          },
        );
      }
      const name = rawName.startsWith("module.") ? rawName.slice(7) : rawName;
      const read = () => readAt(file, base + begin, end - begin);
      tensors.set(name, {
        name,
        dtype: info.dtype,
        shape: entry.shape,
        toFloat32: async () => bytesToFloat32(await read(), info.dtype, count),
        toBigInt64: async () => {
          const bytes = await read();
          return info.dtype === "int64"
            ? new BigInt64Array(bytes.slice().buffer, 0, count)
            : BigInt64Array.from(bytesToFloat32(bytes, info.dtype, count), (v) =>
              BigInt(Math.round(v)));
        },
      });
    }
    return { path, format: "safetensors", tensors, close: () => file.close() };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Writes float32 tensors as a safetensors file (names as given, sorted). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors.get(name)!;
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    position += data.byteLength;
  }
  await Deno.writeFile(path, out);
}

/** The `__metadata__` strings of a safetensors file (empty when it has none). */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  const bytes = await Deno.readFile(path);
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (length <= 0 || 8 + length > bytes.length) {
    throw new InputError("not a safetensors file (bad header length)", {
      file: path,
      value: length,
    });
  }
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  return (header.__metadata__ ?? {}) as Record<string, string>;
}
