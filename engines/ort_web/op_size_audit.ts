/**
 * The webgpu engine's op-size audit. A WebGPU storage buffer binding holds at most the adapter's
 * `maxStorageBufferBindingSize` (128 MiB on lavapipe and by WebGPU's default); onnxruntime-web
 * splits larger tensors over several bindings, and some of its kernels get that wrong
 * (Softmax, issue #21). Before a graph runs at a given input size, every node's tensor sizes
 * are inferred statically, and a node with a tensor past the limit is refused unless its op type
 * was verified correct past it on this onnxruntime-web version.
 *
 * The verified list is produced by `tests/engines/large_ops_test.ts`, which runs each op type
 * of the webgpu graphs on tensors just over 128 MiB and compares with onnxruntime-node on the
 * CPU; the test fails when this constant and its measurement disagree.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import type { DType, GraphBuilder, Value } from "../../models/graph/builder.ts";
import { inferStaticShapes, type StaticTensor } from "../../models/graph/static_shapes.ts";
import { copyBytes, externalLocation } from "../../models/graph/onnx_tensor.ts";
import { MissingCapabilityError } from "../engine.ts";

const { onnx } = onnxProto;

/**
 * Op types (default ONNX domain) that onnxruntime-web 1.30's WebGPU provider computes correctly
 * with tensors past the storage-buffer binding limit, measured on Mesa lavapipe (128 MiB) by
 * `tests/engines/large_ops_test.ts` on 2026-12-01 (onnxruntime-web 1.30.0, Mesa 22.3.6). Absent,
 * as measured wrong past the limit: Softmax (decomposed by the engine, `softmax.ts`),
 * LayerNormalization over the last axis and Pad (scaled error about 1), ReduceMean over the
 * spatial axes (about 1; over the last axis it is right, but an op type is listed whole); and
 * Conv 3x3, which fails with a shader error at that size. None of those is past the limit in
 * GLIP-T at 800x1344; ORT's fused kernels (e.g. Gelu from Erf) are not covered by one-node tests.
 */
export const VERIFIED_PAST_BINDING_LIMIT: readonly string[] = Object.freeze([
  "Add",
  "Cast",
  "Clip",
  "Concat",
  "Conv 1x1",
  "Div",
  "Equal",
  "Erf",
  "Exp",
  "Gather",
  "GridSample",
  "Identity",
  "Less",
  "MatMul",
  "Max",
  "Mod",
  "Mul",
  "Not",
  "Range",
  "ReduceMax",
  "ReduceSum",
  "Relu",
  "Reshape",
  "Resize",
  "Shape",
  "Sigmoid",
  "Slice",
  "Sqrt",
  "Squeeze",
  "Sub",
  "Transpose",
  "Unsqueeze",
  "Where",
]);

const DTYPES: Record<number, DType> = {
  1: "float32",
  10: "float16",
  7: "int64",
  6: "int32",
  9: "bool",
};
const BYTES: Record<DType, number> = { float32: 4, float16: 2, int64: 8, int32: 4, bool: 1 };

/**
 * The name a node is verified under: its op type (with its domain outside the default one), and
 * for Conv its kernel size (`Conv 1x1`, `Conv 3x3`), since onnxruntime-web runs those with
 * different shaders.
 */
export function auditKey(
  node: onnxProto.onnx.INodeProto,
  shapes: Map<string, StaticTensor>,
): string {
  const op = node.domain && node.domain !== "ai.onnx"
    ? `${node.domain}.${node.opType}`
    : node.opType!;
  if (op !== "Conv") return op;
  const kernel = shapes.get(node.input?.[1] ?? "")?.dims.slice(2) ?? [];
  return `Conv ${kernel.join("x")}`;
}

/** A node with a tensor past the binding limit. */
export interface LargeNode {
  node: string;
  /** The name its op type is verified under ({@link auditKey}). */
  op: string;
  /** The node's largest tensor (an input or an output). */
  tensor: string;
  dims: number[];
  dtype: DType;
  bytes: number;
}

/** A graph with a large node of an op type not verified correct past the binding limit. */
export class OpSizeError extends MissingCapabilityError {
  /** The error's name. */
  override name = "OpSizeError";
}

const MIB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

/** Initializers with more values than this never feed shape arithmetic (static_shapes.ts). */
const KEEP_VALUES = 4096;

/** An initializer's bytes when small enough for its values to matter, else none. */
function smallInitializerBytes(
  tensor: onnxProto.onnx.ITensorProto,
  dtype: DType,
  count: number,
  external: Map<string, Uint8Array>,
): Uint8Array {
  if (count > KEEP_VALUES) return new Uint8Array();
  const location = externalLocation(tensor);
  let bytes = new Uint8Array();
  if (location) {
    const field = (key: string) => tensor.externalData!.find((e) => e.key === key)?.value;
    const blob = external.get(location) ?? new Uint8Array();
    const offset = Number(field("offset") ?? 0);
    bytes = new Uint8Array(
      copyBytes(blob.subarray(offset, offset + Number(field("length") ?? blob.length - offset))),
    );
  } else if (tensor.rawData?.length) {
    bytes = new Uint8Array(copyBytes(tensor.rawData));
  } else if (tensor.int64Data?.length) {
    bytes = new Uint8Array(BigInt64Array.from(tensor.int64Data, (v) => BigInt(v)).buffer);
  } else if (tensor.floatData?.length) {
    bytes = new Uint8Array(Float32Array.from(tensor.floatData).buffer);
  } else if (tensor.int32Data?.length) {
    bytes = new Uint8Array(
      (dtype === "bool" ? Uint8Array : Int32Array).from(tensor.int32Data).buffer,
    );
  }
  // values that are not all there (an external blob not given) read as zeros
  return bytes.byteLength === count * BYTES[dtype] ? bytes : new Uint8Array(count * BYTES[dtype]);
}

/**
 * The static-shape view of a decoded ONNX graph (what `inferStaticShapes` reads), holding the
 * values of small initializers only, so the weights are not kept alive.
 */
function shapeSource(
  graph: onnxProto.onnx.IGraphProto,
  external: Map<string, Uint8Array>,
): GraphBuilder {
  const initializers = new Map<string, { dtype: DType; dims: number[]; bytes: Uint8Array }>();
  for (const tensor of graph.initializer ?? []) {
    const dtype = DTYPES[tensor.dataType ?? 0];
    if (!dtype) continue;
    const dims = (tensor.dims ?? []).map(Number);
    const count = dims.reduce((a, b) => a * b, 1);
    initializers.set(tensor.name!, {
      dtype,
      dims,
      bytes: smallInitializerBytes(tensor, dtype, count, external),
    });
  }
  const inputs: Value[] = (graph.input ?? []).filter((i) => !initializers.has(i.name!)).map((i) => {
    const tensorType = i.type?.tensorType;
    return {
      name: i.name!,
      dtype: DTYPES[tensorType?.elemType ?? 1] ?? "float32",
      shape: tensorType?.shape?.dim?.map((d) =>
        d.dimParam ? d.dimParam : Number(d.dimValue ?? 0)
      ) ??
        null,
    };
  });
  const source = {
    nodes: graph.node ?? [],
    inputs,
    initializer: (name: string) => initializers.get(name),
  };
  // inferStaticShapes reads only nodes, inputs and initializer() of its graph
  return source as unknown as GraphBuilder;
}

/**
 * The static sizes of one ONNX graph's nodes, for any input size: decode once, then ask
 * {@link OpSizeAudit.largeNodes} or {@link OpSizeAudit.check} per input size.
 */
export class OpSizeAudit {
  readonly #source: GraphBuilder;
  readonly #checked = new Set<string>();

  /**
   * @param label The graph's name in messages (its file name).
   * @param model The graph as run (after the engine's rewrites).
   * @param externalData Its external data (small initializers' values feed shape arithmetic).
   */
  constructor(
    readonly label: string,
    model: Uint8Array,
    externalData: { path: string; data: Uint8Array }[] = [],
  ) {
    const graph = onnx.ModelProto.decode(model).graph!;
    this.#source = shapeSource(graph, new Map(externalData.map((e) => [e.path, e.data])));
  }

  /** Every value's static dtype and dims for the given input dims (throws a ShapeError naming the node it cannot size). */
  shapes(inputDims: Record<string, number[]>): Map<string, StaticTensor> {
    return inferStaticShapes(this.#source, inputDims);
  }

  /** Every node with a tensor (input or output, weights included) over `limitBytes`. */
  largeNodes(inputDims: Record<string, number[]>, limitBytes: number): LargeNode[] {
    const shapes = this.shapes(inputDims);
    const large: LargeNode[] = [];
    for (const node of this.#source.nodes) {
      let largest: LargeNode | undefined;
      for (const name of [...(node.input ?? []), ...(node.output ?? [])]) {
        const t = name ? shapes.get(name) : undefined;
        if (!t) continue;
        const bytes = t.dims.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
        if (bytes > limitBytes && bytes > (largest?.bytes ?? 0)) {
          largest = {
            node: node.name ?? "",
            op: auditKey(node, shapes),
            tensor: name,
            dims: t.dims,
            dtype: t.dtype,
            bytes,
          };
        }
      }
      if (largest) large.push(largest);
    }
    return large;
  }

  /**
   * Refuses, with an {@link OpSizeError} naming the nodes, a graph whose large nodes include an
   * op type not in `verified`. Each input size is checked once.
   */
  check(
    inputDims: Record<string, number[]>,
    limitBytes: number,
    verified: readonly string[] = VERIFIED_PAST_BINDING_LIMIT,
  ): void {
    const key = `${limitBytes}:${JSON.stringify(inputDims)}`;
    if (this.#checked.has(key)) return;
    const allowed = new Set(verified);
    const refused = this.largeNodes(inputDims, limitBytes).filter((n) => !allowed.has(n.op));
    if (refused.length) {
      const sizes = Object.entries(inputDims).map(([k, v]) => `${k} [${v}]`).join(", ");
      const list = refused.slice(0, 6).map((n) =>
        `node '${n.node}' (${n.op}): ${n.tensor} [${n.dims}] ${n.dtype} is ${mib(n.bytes)}`
      );
      throw new OpSizeError(
        `webgpu: ${this.label} at ${sizes}: ${refused.length} node(s) hold a tensor past the adapter's maxStorageBufferBindingSize of ${
          mib(limitBytes)
        } (${limitBytes} bytes), and onnxruntime-web's WebGPU kernel for their op type is not verified correct past it: ${
          list.join("; ")
        }${
          refused.length > 6 ? "; ..." : ""
        }. Refusing to return possibly wrong results; run this size on the wasm or onnx engine, use a smaller input, or verify the op type with tests/engines/large_ops_test.ts and add it to VERIFIED_PAST_BINDING_LIMIT.`,
      );
    }
    this.#checked.add(key);
  }
}
