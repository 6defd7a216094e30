/**
 * Parameters read back from an exported bundle: the float initializers of one of its ONNX graphs
 * (inline or external data), by their parameter names, which the exporter keeps one-to-one with
 * GLIP's state dict. The trainer rebuilds the head from them, so a bundle is all it needs.
 *
 * @module
 */
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { InputError } from "../../core/errors.ts";
import type { GraphName, ModelBundle } from "../bundle.ts";
import { WeightError, type WeightSource } from "./weights.ts";

const FLOAT = 1;

/** A fresh, aligned copy (protobufjs may hand out Node Buffers, whose slice() is a view). */
function copyBytes(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** The float initializers of an ONNX model, with its external data files read from `dir`. */
export async function readFloatInitializers(
  modelPath: string,
): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const model = onnxProto.onnx.ModelProto.decode(await Deno.readFile(modelPath));
  const dir = modelPath.slice(0, modelPath.lastIndexOf("/") + 1) || ".";
  const external = new Map<string, Uint8Array>();
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const tensor of model.graph?.initializer ?? []) {
    if (tensor.dataType !== FLOAT || !tensor.name) continue;
    const shape = (tensor.dims ?? []).map(Number);
    let data: Float32Array;
    const field = (key: string) => tensor.externalData?.find((e) => e.key === key)?.value;
    const location = field("location");
    if (location) {
      let blob = external.get(location);
      if (!blob) {
        blob = await Deno.readFile(join(dir, location));
        external.set(location, blob);
      }
      const offset = Number(field("offset") ?? 0);
      const length = Number(field("length") ?? blob.byteLength - offset);
      data = new Float32Array(copyBytes(blob.subarray(offset, offset + length)));
    } else if (tensor.rawData && tensor.rawData.length > 0) {
      data = new Float32Array(copyBytes(tensor.rawData));
    } else {
      data = Float32Array.from(tensor.floatData ?? []);
    }
    values.set(tensor.name, { shape, data });
  }
  return values;
}

/**
 * Parameters as a graph stores them: linear weights transposed ([in, out]), a few others
 * reshaped (same values in the same order), under their parameter names.
 */
export class BundleWeights implements WeightSource {
  readonly requested = new Map<string, number[]>();
  constructor(
    readonly source: string,
    readonly values: Map<string, { shape: number[]; data: Float32Array }>,
  ) {}

  #lookup(name: string, shape: number[]): { shape: number[]; data: Float32Array } {
    this.requested.set(name, shape);
    const value = this.values.get(name);
    if (!value) {
      throw new WeightError(`${this.source}: initializer ${name} is missing (expected [${shape}])`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (value.data.length !== count) {
      throw new WeightError(
        `${this.source}: initializer ${name} has shape [${value.shape}], expected ${count} values ([${shape}])`,
      );
    }
    return value;
  }

  get(name: string, shape: number[]): Float32Array {
    return this.#lookup(name, shape).data;
  }

  getTransposed(name: string, rows: number, cols: number): Float32Array {
    const value = this.#lookup(name, [rows, cols]);
    if (value.shape.length !== 2 || value.shape[0] !== cols || value.shape[1] !== rows) {
      throw new WeightError(
        `${this.source}: initializer ${name} has shape [${value.shape}], expected the transposed [${cols},${rows}]`,
      );
    }
    return value.data;
  }
}

/** The weights of one graph of a bundle (the head: its decomposed form). */
export async function bundleWeights(
  bundle: ModelBundle,
  graph: GraphName = "head",
): Promise<BundleWeights> {
  const graphs = bundle.manifest.graphs;
  const file = graph === "head"
    ? (graphs.head.decomposed ?? graphs.head.native)?.file
    : graphs[graph].file;
  if (!file) {
    throw new InputError("the bundle has no head graph", {
      file: join(bundle.dir, "manifest.json"),
    });
  }
  const path = join(bundle.dir, file);
  return new BundleWeights(path, await readFloatInitializers(path));
}
