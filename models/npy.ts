/**
 * Reading and writing NumPy `.npy` files (format versions 1.0-3.0, little-endian, C order).
 * The reference tensors of the official GLIP code and the trace tool use this format.
 *
 * @example
 * ```ts
 * import { readNpy, writeNpy } from "./npy.ts";
 * const bytes = writeNpy({ dtype: "float32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
 * const array = readNpy(bytes);
 * console.assert(array.shape.join("x") === "2x2" && array.data[3] === 4);
 * ```
 *
 * @module
 */
import { InputError } from "../core/errors.ts";

/** Element types this module reads. */
export type NpyDtype =
  | "float32"
  | "float64"
  | "float16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** A typed array read from or written to `.npy`. */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data:
    | Float32Array
    | Float64Array
    | BigInt64Array
    | Int32Array
    | Int16Array
    | Int8Array
    | Uint8Array;
}

const DESCR: Record<string, NpyDtype> = {
  "<f4": "float32",
  "<f8": "float64",
  "<f2": "float16",
  "<i8": "int64",
  "<i4": "int32",
  "<i2": "int16",
  "|i1": "int8",
  "|u1": "uint8",
  "|b1": "bool",
};
const DESCR_OF = Object.fromEntries(Object.entries(DESCR).map(([k, v]) => [v, k]));
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Parses `.npy` bytes. float16 data is widened to float32. */
export function readNpy(bytes: Uint8Array, name = "(npy)"): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new InputError("not a .npy file (bad magic)", { file: name });
  }
  const major = bytes[6];
  if (major < 1 || major > 3) {
    throw new InputError("unsupported .npy format version", { file: name, value: major });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (headerStart + headerLength > bytes.length) {
    throw new InputError(`header length runs past the end of the file (${bytes.length} bytes)`, {
      file: name,
      field: "header length",
      value: headerLength,
    });
  }
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, headerStart + headerLength),
  );
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) {
    throw new InputError("malformed .npy header", { file: name, value: header });
  }
  if (fortran === "True") {
    throw new InputError("Fortran-order arrays are not supported; save with C order", {
      file: name,
    });
  }
  const dtype = Object.hasOwn(DESCR, descr) ? DESCR[descr] : undefined;
  if (!dtype) {
    throw new InputError(`unsupported dtype (known: ${Object.keys(DESCR).join(", ")})`, {
      file: name,
      field: "descr",
      value: descr,
    });
  }
  const dims = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (!dims.every((d) => /^\d+L?$/.test(d))) {
    throw new InputError("shape must be non-negative integers", {
      file: name,
      field: "shape",
      value: `(${shapeText})`,
    });
  }
  const shape = dims.map((d) => Number(d.replace("L", "")));
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count) || count > bytes.length) {
    throw new InputError(`shape needs ${count} elements, the file has ${bytes.length} bytes`, {
      file: name,
      field: "shape",
      value: shape,
    });
  }
  const start = headerStart + headerLength;
  const body = bytes.slice(start);
  const need = (size: number) => {
    if (body.byteLength < count * size) {
      throw new InputError(`truncated data: expected ${count * size} bytes`, {
        file: name,
        value: body.byteLength,
      });
    }
    return body.buffer;
  };
  let data: NpyArray["data"];
  switch (dtype) {
    case "float32":
      data = new Float32Array(need(4), 0, count);
      break;
    case "float64":
      data = new Float64Array(need(8), 0, count);
      break;
    case "float16": {
      const halves = new Uint16Array(need(2), 0, count);
      data = Float32Array.from(halves, halfToFloat);
      return { dtype: "float32", shape, data };
    }
    case "int64":
      data = new BigInt64Array(need(8), 0, count);
      break;
    case "int32":
      data = new Int32Array(need(4), 0, count);
      break;
    case "int16":
      data = new Int16Array(need(2), 0, count);
      break;
    case "int8":
      data = new Int8Array(need(1), 0, count);
      break;
    default:
      data = new Uint8Array(need(1), 0, count);
  }
  return { dtype, shape, data };
}

/** Reads a `.npy` file. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  return readNpy(await Deno.readFile(path), path);
}

/** Serializes an array as `.npy` (version 1.0). */
export function writeNpy(array: NpyArray): Uint8Array {
  const descr = DESCR_OF[array.dtype];
  if (!descr || array.dtype === "float16") {
    throw new TypeError(`writeNpy: unsupported dtype ${array.dtype}`);
  }
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const headerBytes = new TextEncoder().encode(header);
  const data = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(10 + headerBytes.length + data.length);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, headerBytes.length, true);
  out.set(headerBytes, 10);
  out.set(data, 10 + headerBytes.length);
  return out;
}

/** Writes a `.npy` file. */
export async function writeNpyFile(path: string, array: NpyArray): Promise<void> {
  await Deno.writeFile(path, writeNpy(array));
}

/** The data as float32 (converting other numeric types). */
export function toFloat32(array: NpyArray): Float32Array {
  if (array.data instanceof Float32Array) return array.data;
  if (array.data instanceof BigInt64Array) return Float32Array.from(array.data, (v) => Number(v));
  return Float32Array.from(array.data as ArrayLike<number>);
}
