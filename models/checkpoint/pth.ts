/**
 * Reading PyTorch checkpoints (`torch.save` zip format, torch >= 1.6) in TypeScript: the pickle
 * is parsed with torch's reconstruction functions resolved to lightweight descriptors, and each
 * tensor's bytes are read from the archive only when asked for.
 *
 * @module
 */
import { Parser } from "pickleparser";
import { InputError } from "../../core/errors.ts";
import { ZipReader } from "./zip.ts";

/** Element types of checkpoint tensors. */
export type TensorDtype =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float64"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** torch storage classes by name: element type and size. */
export const STORAGE_DTYPES: Record<string, { dtype: TensorDtype; bytes: number }> = {
  FloatStorage: { dtype: "float32", bytes: 4 },
  HalfStorage: { dtype: "float16", bytes: 2 },
  BFloat16Storage: { dtype: "bfloat16", bytes: 2 },
  DoubleStorage: { dtype: "float64", bytes: 8 },
  LongStorage: { dtype: "int64", bytes: 8 },
  IntStorage: { dtype: "int32", bytes: 4 },
  ShortStorage: { dtype: "int16", bytes: 2 },
  CharStorage: { dtype: "int8", bytes: 1 },
  ByteStorage: { dtype: "uint8", bytes: 1 },
  BoolStorage: { dtype: "bool", bytes: 1 },
};

/** A tensor of a checkpoint; its data is read on demand. */
export interface CheckpointTensor {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** The values as float32 (any numeric dtype converted). */
  toFloat32(): Promise<Float32Array>;
  /** The values as int64 (integer dtypes). */
  toBigInt64(): Promise<BigInt64Array>;
}

/** A checkpoint's tensors by name (`module.` stripped). */
export interface Checkpoint {
  path: string;
  format: "pth-zip" | "pth-legacy" | "safetensors";
  tensors: Map<string, CheckpointTensor>;
  close(): void;
}

/** A storage as a persistent id names it. */
export interface StorageRef {
  key: string;
  dtype: TensorDtype;
  bytes: number;
  numel: number;
}

/** A tensor as `_rebuild_tensor_v2` describes it. */
export interface TensorRef {
  __tensor: true;
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

/** float16 bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Little-endian tensor bytes of a dtype as float32. */
export function bytesToFloat32(bytes: Uint8Array, dtype: TensorDtype, count: number): Float32Array {
  const buffer = bytes.slice().buffer;
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, 0, count);
    case "float64":
      return Float32Array.from(new Float64Array(buffer, 0, count));
    case "float16":
      return Float32Array.from(new Uint16Array(buffer, 0, count), halfToFloat);
    case "bfloat16": {
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer);
      const halves = new Uint16Array(buffer, 0, count);
      for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
      return out;
    }
    case "int64":
      return Float32Array.from(new BigInt64Array(buffer, 0, count), (v) => Number(v));
    case "int32":
      return Float32Array.from(new Int32Array(buffer, 0, count));
    case "int16":
      return Float32Array.from(new Int16Array(buffer, 0, count));
    case "int8":
      return Float32Array.from(new Int8Array(buffer, 0, count));
    default:
      return Float32Array.from(new Uint8Array(buffer, 0, count));
  }
}

/** Whether a (size, stride) view is the contiguous layout. */
export function isContiguous(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expected) return false;
    expected *= size[i];
  }
  return true;
}

/**
 * A pickle parser that rebuilds torch tensors as {@link TensorRef}s and storages from their
 * persistent ids (`('storage', type, key, location, numel, ...)`, both serialization formats).
 */
export function tensorPickleParser(path: string): Parser {
  const registry = {
    resolve(module: string, name: string) {
      if (module === "torch._utils" && name === "_rebuild_tensor_v2") {
        return (storage: StorageRef, offset: number, size: number[], stride: number[]) =>
          ({ __tensor: true, storage, offset, size: [...size], stride: [...stride] }) as TensorRef;
      }
      if (module === "torch._utils" && name === "_rebuild_parameter") {
        return (tensor: TensorRef) => tensor;
      }
      if (module === "collections" && name === "OrderedDict") return () => ({});
      if (module === "torch" && name.endsWith("Storage")) {
        // The storage class itself is what the persistent id carries: tag it with its name.
        return Object.assign(() => ({ storageType: name }), { storageType: name });
      }
      // Anything else (optimizer classes, argparse.Namespace, ...) becomes an inert object.
      return function () {
        return { __unpickled: `${module}.${name}` };
      };
    },
  };
  const persistent = {
    resolve(pid: unknown) {
      const tuple = pid as unknown[];
      if (!Array.isArray(tuple) || tuple[0] !== "storage") {
        throw new InputError("unexpected persistent id in the pickle", { file: path, value: pid });
      }
      const storageType = (tuple[1] as { storageType?: string })?.storageType ?? "";
      const info = STORAGE_DTYPES[storageType];
      if (!info) {
        throw new InputError("unsupported storage type", { file: path, value: storageType });
      }
      return { key: String(tuple[2]), numel: Number(tuple[4]), ...info } satisfies StorageRef;
    },
  };
  // deno-lint-ignore no-explicit-any
  return new Parser({ nameResolver: registry as any, persistentResolver: persistent });
}

function parsePickle(bytes: Uint8Array, path: string): unknown {
  return tensorPickleParser(path).parse(bytes);
}

/** Finds the state dict inside a loaded checkpoint object. */
export function findStateDict(root: unknown, path: string): Record<string, TensorRef> {
  const isStateDict = (value: unknown) =>
    value !== null && typeof value === "object" &&
    Object.values(value as object).some((v) => (v as TensorRef)?.__tensor);
  const object = root as Record<string, unknown>;
  for (const key of ["model", "state_dict"]) {
    if (object && isStateDict(object[key])) return object[key] as Record<string, TensorRef>;
  }
  if (isStateDict(object)) return object as Record<string, TensorRef>;
  throw new InputError("no state dict found (looked for 'model', 'state_dict' and the top level)", {
    file: path,
  });
}

/** A checkpoint tensor whose bytes are read (and converted) only when asked for. */
export function lazyTensor(
  name: string,
  dtype: TensorDtype,
  shape: number[],
  readBytes: () => Promise<Uint8Array>,
): CheckpointTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  return {
    name,
    dtype,
    shape,
    toFloat32: async () => bytesToFloat32(await readBytes(), dtype, count),
    toBigInt64: async () => {
      const bytes = await readBytes();
      if (dtype === "int64") return new BigInt64Array(bytes.slice().buffer, 0, count);
      return BigInt64Array.from(bytesToFloat32(bytes, dtype, count), (v) => BigInt(Math.round(v)));
    },
  };
}

/**
 * Opens a PyTorch zip checkpoint. Keys lose a leading `module.` (DDP). Close it when done.
 *
 * @example
 * ```ts ignore
 * const checkpoint = await readPthCheckpoint("glip_tiny_model_o365_goldg.pth");
 * const weight = await checkpoint.tensors.get("rpn.head.bbox_pred.weight")!.toFloat32();
 * checkpoint.close();
 * ```
 */
export async function readPthCheckpoint(path: string): Promise<Checkpoint> {
  const zip = await ZipReader.open(path);
  try {
    const pickleName = [...zip.entries.keys()].find((n) =>
      n.endsWith("/data.pkl") || n === "data.pkl"
    );
    if (!pickleName) {
      throw new InputError("no data.pkl in the archive: not a torch checkpoint", { file: path });
    }
    const root = pickleName.slice(0, pickleName.length - "data.pkl".length);
    const stateDict = findStateDict(parsePickle(await zip.read(pickleName), path), path);
    const tensors = new Map<string, CheckpointTensor>();
    for (const [rawName, ref] of Object.entries(stateDict)) {
      if (!ref?.__tensor) continue;
      const name = rawName.startsWith("module.") ? rawName.slice(7) : rawName;
      const count = ref.size.reduce((a, b) => a * b, 1);
      const entry = `${root}data/${ref.storage.key}`;
      const readBytes = async () => {
        if (!isContiguous(ref.size, ref.stride)) {
          throw new InputError(`tensor ${rawName} is not contiguous; save it with .contiguous()`, {
            file: path,
          });
        }
        return await zip.read(entry, ref.offset * ref.storage.bytes, count * ref.storage.bytes);
      };
      tensors.set(name, lazyTensor(name, ref.storage.dtype, ref.size, readBytes));
    }
    return { path, format: "pth-zip", tensors, close: () => zip.close() };
  } catch (error) {
    zip.close();
    throw error;
  }
}
