/**
 * Converts an fp32 ONNX model to fp16 compute with the same fp32 interface: float initializers
 * (inline or external) become float16, `Cast(to=FLOAT)` becomes `Cast(to=FLOAT16)`, float
 * tensor attributes are converted, and Casts are added after each float graph input and before
 * each float graph output. The ops our graphs use take their element type from their inputs, so
 * nothing else changes; an op that could create float32 on its own is refused by name.
 *
 * Used by the `webgpu` engine with `--dtype fp16` on adapters with `shader-f16`.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import { floatTensorValues } from "./onnx_tensor.ts";

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type TensorProto = onnxProto.onnx.ITensorProto;

const FLOAT = 1;
const FLOAT16 = 10;

/** Ops that create float values without a float input; only the handled ones are allowed. */
const SOURCE_OPS = new Set([
  "RandomNormal",
  "RandomUniform",
  "RandomNormalLike",
  "RandomUniformLike",
  "EyeLike",
  "Bernoulli",
]);

/**
 * Ops kept in float32 inside the fp16 graph (Casts around them), with the positions of their
 * float inputs. ORT-web's fp16 Pad shader bitcasts its constant in a way Deno's WGSL compiler
 * (naga) rejects, so Pad runs in float32; it only moves values, so nothing is lost.
 */
const KEEP_FLOAT32: Record<string, number[]> = { Pad: [0, 2], Clip: [0, 1, 2] };

/** External data of a model, by the location its initializers name. */
export interface ExternalData {
  path: string;
  data: Uint8Array;
}

function toHalfBytes(values: Float32Array): Uint8Array {
  const half = Float16Array.from(values);
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

/** Converts one float tensor in place to float16 (inline raw data). */
function convertTensor(tensor: TensorProto, external: Map<string, Uint8Array>): Uint8Array {
  const half = toHalfBytes(floatTensorValues(tensor, external));
  tensor.dataType = FLOAT16;
  tensor.floatData = [];
  return half;
}

/**
 * The fp16 version of a model and its external data (float16 weights in new external blobs
 * under the same locations, 64-byte aligned).
 */
export function toFloat16Model(
  modelBytes: Uint8Array,
  externalData: ExternalData[] = [],
): { model: Uint8Array; externalData: ExternalData[] } {
  const model: ModelProto = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph!;
  const external = new Map(externalData.map((e) => [e.path, e.data]));
  const rewritten = new Map<string, { parts: Uint8Array[]; size: number }>();
  for (const tensor of graph.initializer ?? []) {
    const field = (key: string) => tensor.externalData?.find((e) => e.key === key)?.value;
    const location = field("location");
    const isFloat = tensor.dataType === FLOAT;
    if (!location) {
      if (isFloat) tensor.rawData = convertTensor(tensor, external);
      continue;
    }
    // every external tensor moves to the rewritten blob of its location (floats as float16)
    let bytes: Uint8Array;
    if (isFloat) {
      bytes = convertTensor(tensor, external);
    } else {
      const blob = external.get(location);
      if (!blob) {
        throw new Error(`float16: external data '${location}' of ${tensor.name} not given`);
      }
      const offset = Number(field("offset") ?? 0);
      bytes = blob.subarray(offset, offset + Number(field("length") ?? blob.byteLength - offset));
    }
    const blob = rewritten.get(location) ?? { parts: [], size: 0 };
    rewritten.set(location, blob);
    const offset = Math.ceil(blob.size / 64) * 64;
    if (offset > blob.size) blob.parts.push(new Uint8Array(offset - blob.size));
    blob.parts.push(bytes);
    blob.size = offset + bytes.byteLength;
    tensor.externalData = [
      { key: "location", value: location },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(bytes.byteLength) },
    ];
  }
  for (const node of graph.node ?? []) {
    if (SOURCE_OPS.has(node.opType ?? "")) {
      throw new Error(`float16: op ${node.opType} (${node.name}) creates float32 on its own`);
    }
    for (const attribute of node.attribute ?? []) {
      if (node.opType === "Cast" && attribute.name === "to" && Number(attribute.i) === FLOAT) {
        attribute.i = FLOAT16;
      }
      if (attribute.t && attribute.t.dataType === FLOAT) {
        attribute.t.rawData = convertTensor(attribute.t, external);
      }
    }
  }
  const rename = (from: string, to: string) => {
    for (const node of graph.node ?? []) {
      node.input = (node.input ?? []).map((name) => (name === from ? to : name));
      node.output = (node.output ?? []).map((name) => (name === from ? to : name));
    }
  };
  const cast = (input: string, output: string, to: number, name: string) =>
    onnx.NodeProto.create({
      name,
      opType: "Cast",
      input: [input],
      output: [output],
      attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: to }],
    });
  const head = [];
  for (const input of graph.input ?? []) {
    if (input.type?.tensorType?.elemType !== FLOAT) continue;
    const inner = `${input.name}__fp16`;
    rename(input.name!, inner);
    head.push(cast(input.name!, inner, FLOAT16, `${input.name}/to_fp16`));
  }
  const tail = [];
  for (const output of graph.output ?? []) {
    if (output.type?.tensorType?.elemType !== FLOAT) continue;
    const inner = `${output.name}__fp16`;
    rename(output.name!, inner);
    tail.push(cast(inner, output.name!, FLOAT, `${output.name}/to_fp32`));
  }
  const body = [];
  for (const node of graph.node ?? []) {
    const floatInputs = KEEP_FLOAT32[node.opType ?? ""];
    if (!floatInputs) {
      body.push(node);
      continue;
    }
    node.input = (node.input ?? []).map((name, i) => {
      if (!name || !floatInputs.includes(i)) return name;
      const wide = `${node.name}/in${i}_fp32`;
      body.push(cast(name, wide, FLOAT, `${node.name}/in${i}_to_fp32`));
      return wide;
    });
    const output = node.output![0];
    node.output = [`${output}__fp32`, ...node.output!.slice(1)];
    body.push(node, cast(`${output}__fp32`, output, FLOAT16, `${node.name}/out_to_fp16`));
  }
  graph.node = [...head, ...body, ...tail];
  graph.valueInfo = [];
  const outData: ExternalData[] = [];
  for (const [path, { parts, size }] of rewritten) {
    const data = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.byteLength;
    }
    outData.push({ path, data });
  }
  // external blobs that held no float tensors stay as they were
  for (const entry of externalData) if (!rewritten.has(entry.path)) outData.push(entry);
  return { model: onnx.ModelProto.encode(model).finish(), externalData: outData };
}
