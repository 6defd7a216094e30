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

/** The element type of a torch storage class name; undefined for any other name (prototype keys too). */
export function storageDtype(name: unknown): { dtype: TensorDtype; bytes: number } | undefined {
  return typeof name === "string" && Object.hasOwn(STORAGE_DTYPES, name)
    ? STORAGE_DTYPES[name]
    : undefined;
}

/** The largest pickle read into memory (a GLIP-L state dict's pickle is well under 1 MiB). */
export const MAX_PICKLE_BYTES = 64 * 2 ** 20;

/** A tensor of a checkpoint; its data is read on demand. */
export interface CheckpointTensor {
  /** Tensor name as stored (`module.` stripped). */
  name: string;
  /** Stored element type. */
  dtype: TensorDtype;
  /** Shape. */
  shape: number[];
  /** The values as float32 (any numeric dtype converted). */
  toFloat32(): Promise<Float32Array>;
  /** The values as int64 (integer dtypes). */
  toBigInt64(): Promise<BigInt64Array>;
}

/** A checkpoint's tensors by name (`module.` stripped). */
export interface Checkpoint {
  /** The checkpoint file. */
  path: string;
  /** The file's format. */
  format: "pth-zip" | "pth-legacy" | "safetensors";
  /** Tensors by name; their data is read only when asked for. */
  tensors: Map<string, CheckpointTensor>;
  /** Closes the file. */
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
      const type = tuple[1] as { storageType?: unknown } | undefined;
      const storageType = typeof type === "function" || (typeof type === "object" && type !== null)
        ? type.storageType
        : type;
      const info = storageDtype(storageType);
      if (!info) {
        throw new InputError(
          `unsupported storage type (known: ${Object.keys(STORAGE_DTYPES).join(", ")})`,
          { file: path, field: `storage ${String(tuple[2])}`, value: String(storageType) },
        );
      }
      const numel = typeof tuple[4] === "bigint" ? Number(tuple[4]) : tuple[4];
      if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) {
        throw new InputError("storage element count must be a non-negative integer", {
          file: path,
          field: `storage ${String(tuple[2])}`,
          value: String(tuple[4]),
        });
      }
      return { key: String(tuple[2]), numel, ...info } satisfies StorageRef;
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
 * Adds a tensor under its name less a leading `module.`; two names that become the same
 * (`module.x` and `x`) are refused rather than one silently replacing the other.
 */
export function addTensor(
  tensors: Map<string, CheckpointTensor>,
  rawName: string,
  path: string,
  make: (name: string) => CheckpointTensor,
): void {
  const name = rawName.startsWith("module.") ? rawName.slice(7) : rawName;
  if (tensors.has(name)) {
    throw new InputError(`two tensors are named ${name} (once with 'module.')`, {
      file: path,
      field: rawName,
    });
  }
  tensors.set(name, make(name));
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A state-dict tensor whose view was checked against its storage. */
export interface CheckedView {
  rawName: string;
  ref: TensorRef;
  /** Number of elements (product of the size). */
  count: number;
  /** Names of the tensors that are this very view (same storage, offset, size, stride). */
  sameView: string[];
}

/**
 * Checks every tensor of a state dict against its storage before anything is read: offset,
 * sizes and strides are non-negative integers, the view lies inside the storage, and the
 * storage's bytes lie inside the file (`storageBytes` gives what the file holds for a key, or
 * undefined when it holds none). Views of one storage must be identical or disjoint: partly
 * overlapping views (which would let a small file expand into many large tensors) are refused.
 */
export function checkViews(
  stateDict: Record<string, TensorRef>,
  path: string,
  storageBytes: (key: string) => number | undefined,
): CheckedView[] {
  const views: CheckedView[] = [];
  const byStorage = new Map<string, CheckedView[]>();
  const byView = new Map<string, CheckedView>();
  for (const [rawName, ref] of Object.entries(stateDict)) {
    if (!ref?.__tensor) continue;
    const { storage, offset, size, stride } = ref;
    const where = { file: path, field: rawName };
    if (!isCount(offset)) {
      throw new InputError("storage offset must be a non-negative integer", {
        ...where,
        value: offset,
      });
    }
    if (!Array.isArray(size) || !size.every(isCount) || size.length > 64) {
      throw new InputError("size must be a list of non-negative integers", {
        ...where,
        value: size,
      });
    }
    if (!Array.isArray(stride) || stride.length !== size.length || !stride.every(isCount)) {
      throw new InputError(`stride must be ${size.length} non-negative integers`, {
        ...where,
        value: stride,
      });
    }
    const count = size.reduce((a, b) => a * b, 1);
    const extent = count === 0 ? 0 : 1 + size.reduce((a, d, i) => a + (d - 1) * stride[i], 0);
    if (offset + extent > storage.numel) {
      throw new InputError(
        `the view [${size}] at offset ${offset} needs ${
          offset + extent
        } elements, its storage ${storage.key} has ${storage.numel}`,
        { ...where, value: { offset, size, stride } },
      );
    }
    const held = storageBytes(storage.key);
    if (held === undefined || held < storage.numel * storage.bytes) {
      throw new InputError(
        `storage ${storage.key} declares ${storage.numel * storage.bytes} bytes, the file holds ${
          held ?? "none"
        }`,
        { ...where },
      );
    }
    const viewKey = `${storage.key}\0${offset}\0${size}\0${stride}`;
    const same = byView.get(viewKey);
    if (same) {
      same.sameView.push(rawName);
      views.push({ ...same, rawName, ref });
      continue;
    }
    const view: CheckedView = { rawName, ref, count, sameView: [rawName] };
    byView.set(viewKey, view);
    views.push(view);
    let list = byStorage.get(storage.key);
    if (!list) byStorage.set(storage.key, list = []);
    list.push(view);
  }
  for (const list of byStorage.values()) {
    const spans = list.map((v) => ({
      view: v,
      start: v.ref.offset,
      end: v.count === 0
        ? v.ref.offset
        : v.ref.offset + 1 + v.ref.size.reduce((a, d, i) => a + (d - 1) * v.ref.stride[i], 0),
    })).filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i].start < spans[i - 1].end) {
        throw new InputError(
          `the tensor overlaps ${spans[i - 1].view.rawName} in storage ${
            spans[i].view.ref.storage.key
          } without being the same view`,
          { file: path, field: spans[i].view.rawName },
        );
      }
    }
  }
  return views;
}

/**
 * The tensors of checked views. Names that are one view (tied weights) share one read and one
 * float32 array, as they share one storage in torch: the bytes are read once.
 */
export function viewTensors(
  views: CheckedView[],
  path: string,
  readBytes: (view: CheckedView) => Promise<Uint8Array>,
): Map<string, CheckpointTensor> {
  const tensors = new Map<string, CheckpointTensor>();
  const shared = new Map<string, Promise<Float32Array>>();
  for (const view of views) {
    const read = async () => {
      if (!isContiguous(view.ref.size, view.ref.stride)) {
        throw new InputError(
          `tensor ${view.rawName} is not contiguous; save it with .contiguous()`,
          {
            file: path,
            field: view.rawName,
            value: { size: view.ref.size, stride: view.ref.stride },
          },
        );
      }
      return await readBytes(view);
    };
    addTensor(tensors, view.rawName, path, (name) => {
      const tensor = lazyTensor(name, view.ref.storage.dtype, view.ref.size, read);
      if (view.sameView.length === 1) return tensor;
      const first = view.sameView[0];
      return {
        ...tensor,
        toFloat32: () => {
          let values = shared.get(first);
          if (!values) shared.set(first, values = tensor.toFloat32());
          return values;
        },
      };
    });
  }
  return tensors;
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
    const pickleSize = zip.entries.get(pickleName)!.size;
    if (pickleSize > MAX_PICKLE_BYTES) {
      throw new InputError(`${pickleName} is larger than ${MAX_PICKLE_BYTES} bytes`, {
        file: path,
        value: pickleSize,
      });
    }
    const stateDict = findStateDict(parsePickle(await zip.read(pickleName), path), path);
    const entryOf = (key: string) => `${root}data/${key}`;
    const views = checkViews(stateDict, path, (key) => zip.entries.get(entryOf(key))?.size);
    const tensors = viewTensors(
      views,
      path,
      ({ ref, count }) =>
        zip.read(
          entryOf(ref.storage.key),
          ref.offset * ref.storage.bytes,
          count * ref.storage.bytes,
        ),
    );
    return { path, format: "pth-zip", tensors, close: () => zip.close() };
  } catch (error) {
    zip.close();
    throw error;
  }
}
