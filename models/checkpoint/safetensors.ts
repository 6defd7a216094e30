/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data.
 * Tensors are read from the file by offset when asked for.
 *
 * @module
 */
import { InputError } from "../../core/errors.ts";
import { parseJsonText } from "../../core/json.ts";
import {
  addTensor,
  bytesToFloat32,
  type Checkpoint,
  type CheckpointTensor,
  type TensorDtype,
} from "./pth.ts";
import { readAt } from "./zip.ts";

const DTYPES = new Map<string, { dtype: TensorDtype; bytes: number }>([
  ["F32", { dtype: "float32", bytes: 4 }],
  ["F16", { dtype: "float16", bytes: 2 }],
  ["BF16", { dtype: "bfloat16", bytes: 2 }],
  ["F64", { dtype: "float64", bytes: 8 }],
  ["I64", { dtype: "int64", bytes: 8 }],
  ["I32", { dtype: "int32", bytes: 4 }],
  ["I16", { dtype: "int16", bytes: 2 }],
  ["I8", { dtype: "int8", bytes: 1 }],
  ["U8", { dtype: "uint8", bytes: 1 }],
  ["BOOL", { dtype: "bool", bytes: 1 }],
]);

/** The largest header accepted (the safetensors library allows 100 MB; 16 MiB describes ~150k tensors). */
export const MAX_SAFETENSORS_HEADER_BYTES = 16 * 2 ** 20;

/** One tensor as the header declares it, checked against the file. */
interface HeaderEntry {
  rawName: string;
  dtype: TensorDtype;
  elementBytes: number;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

/** The header JSON, its length checked against the file and its nesting bounded. */
async function readHeaderJson(
  file: Deno.FsFile,
  path: string,
  size: number,
): Promise<{ header: Record<string, unknown>; base: number }> {
  const prefix = await readAt(file, 0, 8);
  if (prefix.length < 8) {
    throw new InputError("not a safetensors file (shorter than its 8-byte header length)", {
      file: path,
      value: size,
    });
  }
  const headerLength = Number(new DataView(prefix.buffer).getBigUint64(0, true));
  if (headerLength <= 0 || headerLength > MAX_SAFETENSORS_HEADER_BYTES || 8 + headerLength > size) {
    throw new InputError(
      `not a safetensors file (bad header length; the file has ${size} bytes, the limit is ${MAX_SAFETENSORS_HEADER_BYTES})`,
      { file: path, field: "header length", value: headerLength },
    );
  }
  let header: unknown;
  const text = new TextDecoder().decode(await readAt(file, 8, headerLength));
  try {
    header = parseJsonText(text, path);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`safetensors header is not valid JSON (${(error as Error).message})`, {
      file: path,
    });
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new InputError("safetensors header is not a JSON object", { file: path });
  }
  return { header: header as Record<string, unknown>, base: 8 + headerLength };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks every declared dtype, shape and offset against the data section (`dataBytes` long)
 * before anything is read: offsets must tile the data exactly, in order, with no overlap and no
 * gap, as the safetensors library requires.
 */
function checkHeader(
  header: Record<string, unknown>,
  path: string,
  dataBytes: number,
): HeaderEntry[] {
  const entries: HeaderEntry[] = [];
  for (const [rawName, value] of Object.entries(header)) {
    if (rawName === "__metadata__") continue;
    const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new InputError("expected {dtype, shape, data_offsets}", {
        file: path,
        field: rawName,
        value: entry,
      });
    }
    const info = typeof entry.dtype === "string" ? DTYPES.get(entry.dtype) : undefined;
    if (!info) {
      throw new InputError(`unsupported dtype (known: ${[...DTYPES.keys()].join(", ")})`, {
        file: path,
        field: `${rawName}.dtype`,
        value: entry.dtype,
      });
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new InputError("shape must be a list of non-negative integers", {
        file: path,
        field: `${rawName}.shape`,
        value: shape,
      });
    }
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) ||
      offsets[0] > offsets[1]
    ) {
      throw new InputError("data_offsets must be [begin, end] with 0 <= begin <= end", {
        file: path,
        field: `${rawName}.data_offsets`,
        value: offsets,
      });
    }
    const [begin, end] = offsets as number[];
    if (end > dataBytes) {
      throw new InputError(`data_offsets end past the data (${dataBytes} bytes)`, {
        file: path,
        field: `${rawName}.data_offsets`,
        value: offsets,
      });
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (count * info.bytes !== end - begin) {
      throw new InputError(
        `data_offsets span ${end - begin} bytes, shape [${shape}] of ${entry.dtype} needs ${
          count * info.bytes
        }`,
        { file: path, field: `${rawName}.data_offsets`, value: offsets },
      );
    }
    entries.push({
      rawName,
      dtype: info.dtype,
      elementBytes: info.bytes,
      shape: shape as number[],
      count,
      begin,
      end,
    });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const entry of sorted) {
    if (entry.begin !== expected) {
      const previous = sorted[sorted.indexOf(entry) - 1];
      throw new InputError(
        entry.begin < expected
          ? `data_offsets overlap those of ${previous?.rawName} (which end at ${expected})`
          : `a gap of ${entry.begin - expected} bytes before this tensor's data`,
        { file: path, field: `${entry.rawName}.data_offsets`, value: [entry.begin, entry.end] },
      );
    }
    expected = entry.end;
  }
  if (expected !== dataBytes) {
    throw new InputError(
      `the tensors cover ${expected} bytes of data, the file has ${dataBytes} after the header`,
      { file: path },
    );
  }
  return entries;
}

/**
 * Opens a safetensors file (keys lose a leading `module.`). Every declared dtype, shape and
 * offset is checked against the file before any tensor is read. Close it when done.
 */
export async function readSafetensors(path: string): Promise<Checkpoint> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    const { header, base } = await readHeaderJson(file, path, size);
    const tensors = new Map<string, CheckpointTensor>();
    for (const entry of checkHeader(header, path, size - base)) {
      const { dtype, count, begin, end } = entry;
      const read = () => readAt(file, base + begin, end - begin);
      addTensor(tensors, entry.rawName, path, (name) => ({
        name,
        dtype,
        shape: entry.shape,
        toFloat32: async () => bytesToFloat32(await read(), dtype, count),
        toBigInt64: async () => {
          const bytes = await read();
          return dtype === "int64"
            ? new BigInt64Array(bytes.slice().buffer, 0, count)
            : BigInt64Array.from(bytesToFloat32(bytes, dtype, count), (v) => BigInt(Math.round(v)));
        },
      }));
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

/** The `__metadata__` strings of a safetensors file (empty when it has none); reads the header only. */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  using file = await Deno.open(path, { read: true });
  const { header } = await readHeaderJson(file, path, (await file.stat()).size);
  const metadata = header.__metadata__ ?? {};
  if (
    metadata === null || typeof metadata !== "object" || Array.isArray(metadata) ||
    !Object.values(metadata).every((v) => typeof v === "string")
  ) {
    throw new InputError("__metadata__ must map names to strings", {
      file: path,
      field: "__metadata__",
      value: metadata,
    });
  }
  return metadata as Record<string, string>;
}
