/**
 * Reading the values of ONNX tensor protos, inline or in external data blobs.
 *
 * @module
 */
import type onnxProto from "onnx-proto";

type TensorProto = onnxProto.onnx.ITensorProto;

/** A fresh, aligned copy (protobufjs may hand out Node Buffers, whose slice() is a view). */
export function copyBytes(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** The external data location of a tensor, or undefined when its values are inline. */
export function externalLocation(tensor: TensorProto): string | undefined {
  return tensor.externalData?.find((e) => e.key === "location")?.value ?? undefined;
}

/**
 * The float32 values of a tensor: from its external blob (by location in `external`), its raw
 * bytes, or its float list.
 */
export function floatTensorValues(
  tensor: TensorProto,
  external: Map<string, Uint8Array>,
): Float32Array {
  if (tensor.externalData && tensor.externalData.length > 0) {
    const field = (key: string) => tensor.externalData!.find((e) => e.key === key)?.value;
    const location = field("location")!;
    const blob = external.get(location);
    if (!blob) throw new Error(`external data '${location}' of ${tensor.name} not given`);
    const offset = Number(field("offset") ?? 0);
    const length = Number(field("length") ?? blob.byteLength - offset);
    return new Float32Array(copyBytes(blob.subarray(offset, offset + length)));
  }
  if (tensor.rawData && tensor.rawData.length > 0) {
    return new Float32Array(copyBytes(tensor.rawData));
  }
  return Float32Array.from(tensor.floatData ?? []);
}
