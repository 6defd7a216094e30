/**
 * Static shape inference over a {@link GraphBuilder}'s nodes for concrete input shapes: every
 * value gets its dtype and dims, and small integer tensors (the shape arithmetic the GLIP modules
 * do with Shape, Slice, Concat, Range, ...) get their values, so that a graph built for dynamic
 * sizes resolves to fixed sizes. The gradient builder uses it to emit shape-specific backward ops
 * (reductions for broadcasting, pads for slices, interpolation matrices for Resize).
 *
 * @module
 */
import type { DType, GraphBuilder } from "./builder.ts";
import type onnxProto from "onnx-proto";

/** A value's static description; `values` for small tensors whose contents are known. */
export interface StaticTensor {
  dtype: DType;
  dims: number[];
  values?: number[];
}

/** A node's attributes as plain values. */
export type Attributes = Record<string, number | number[] | string>;

/** Reads a node's attributes. */
export function nodeAttributes(node: onnxProto.onnx.INodeProto): Attributes {
  const out: Attributes = {};
  for (const a of node.attribute ?? []) {
    if (a.ints && a.ints.length) out[a.name!] = a.ints.map(Number);
    else if (a.s && a.s.length) out[a.name!] = new TextDecoder().decode(a.s);
    else if (a.type === 1) out[a.name!] = Number(a.f ?? 0);
    else if (a.type === 7) out[a.name!] = [];
    else out[a.name!] = Number(a.i ?? 0);
  }
  return out;
}

const DTYPE_CODE: Record<number, DType> = {
  1: "float32",
  10: "float16",
  7: "int64",
  6: "int32",
  9: "bool",
};
const KEEP_VALUES = 4096;

/** An error in shape inference, naming the node. */
export class ShapeError extends Error {
  override name = "ShapeError";
}

const numel = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

function broadcast(...shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let size = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (size !== 1 && size !== d) {
        throw new Error(`cannot broadcast ${shapes.map((x) => `[${x}]`)}`);
      }
      size = d;
    }
    out.push(size);
  }
  return out;
}

/** Element index in a broadcast operand for a flat output index. */
function broadcastIndex(outDims: number[], inDims: number[], flat: number): number {
  let index = 0;
  let stride = 1;
  let rest = flat;
  const offset = outDims.length - inDims.length;
  const coords = new Array(outDims.length);
  for (let i = outDims.length - 1; i >= 0; i--) {
    coords[i] = rest % outDims[i];
    rest = Math.floor(rest / outDims[i]);
  }
  for (let i = inDims.length - 1; i >= 0; i--) {
    const c = inDims[i] === 1 ? 0 : coords[i + offset];
    index += c * stride;
    stride *= inDims[i];
  }
  return index;
}

const COMPARE = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or"]);
const ELEMENTWISE = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", ...COMPARE]);
const SAME_SHAPE = new Set([
  "Relu",
  "Sigmoid",
  "Tanh",
  "Exp",
  "Log",
  "Sqrt",
  "Erf",
  "Neg",
  "Abs",
  "Clip",
  "Identity",
  "Softmax",
  "Cast",
  "HardSigmoid",
  "Not",
  "Floor",
  "Ceil",
  "Reciprocal",
  "Sign",
]);

function elementwiseValue(op: string, a: number, b: number, integer: boolean): number {
  switch (op) {
    case "Add":
      return a + b;
    case "Sub":
      return a - b;
    case "Mul":
      return a * b;
    case "Div":
      return integer ? Math.trunc(a / b) : a / b;
    case "Pow":
      return a ** b;
    case "Max":
      return Math.max(a, b);
    case "Min":
      return Math.min(a, b);
    case "Mod":
      return ((a % b) + b) % b;
    case "Equal":
      return a === b ? 1 : 0;
    case "Less":
      return a < b ? 1 : 0;
    case "Greater":
      return a > b ? 1 : 0;
    case "LessOrEqual":
      return a <= b ? 1 : 0;
    case "GreaterOrEqual":
      return a >= b ? 1 : 0;
    case "And":
      return a && b ? 1 : 0;
    case "Or":
      return a || b ? 1 : 0;
  }
  throw new Error(`no value rule for ${op}`);
}

function initializerTensor(g: GraphBuilder, name: string): StaticTensor | undefined {
  const init = g.initializer(name);
  if (!init) return undefined;
  const tensor: StaticTensor = { dtype: init.dtype, dims: init.dims };
  const count = numel(init.dims);
  if (count <= KEEP_VALUES) {
    const bytes = init.bytes.slice();
    if (init.dtype === "int64") {
      tensor.values = Array.from(new BigInt64Array(bytes.buffer), Number);
    } else if (init.dtype === "float32") {
      tensor.values = Array.from(new Float32Array(bytes.buffer));
    } else if (init.dtype === "bool") tensor.values = Array.from(bytes);
  }
  return tensor;
}

/** Normalized [start, end) with step for one Slice axis, numpy/ONNX clamping rules. */
export function sliceRange(
  size: number,
  start: number,
  end: number,
  step: number,
): { start: number; end: number; step: number; count: number } {
  const norm = (v: number, low: number, high: number) => {
    const x = v < 0 ? v + size : v;
    return Math.min(Math.max(x, low), high);
  };
  const s = step > 0 ? norm(start, 0, size) : norm(start, -1, size - 1);
  const e = step > 0 ? norm(end, 0, size) : norm(end, -1, size - 1);
  const count = step > 0
    ? Math.max(0, Math.ceil((e - s) / step))
    : Math.max(0, Math.ceil((s - e) / -step));
  return { start: s, end: e, step, count };
}

/** Parsed Slice inputs for a data tensor of the given dims. */
export function sliceSpec(
  dims: number[],
  starts: number[],
  ends: number[],
  axes: number[] | undefined,
  steps: number[] | undefined,
): { axis: number; start: number; step: number; count: number }[] {
  return starts.map((start, i) => {
    const raw = axes ? axes[i] : i;
    const axis = raw < 0 ? raw + dims.length : raw;
    const r = sliceRange(dims[axis], start, ends[i], steps ? steps[i] : 1);
    return { axis, start: r.start, step: r.step, count: r.count };
  });
}

function reduceAxes(rank: number, axes: number[] | undefined, noop: boolean): number[] {
  if (!axes || axes.length === 0) return noop ? [] : [...Array(rank).keys()];
  return axes.map((a) => (a < 0 ? a + rank : a));
}

/** The axes a Reduce* node reduces, from its axes input (opset 18+) or attribute. */
export function reductionAxes(
  node: onnxProto.onnx.INodeProto,
  rank: number,
  axesInput: StaticTensor | undefined,
): number[] {
  const attrs = nodeAttributes(node);
  const axes = axesInput?.values ?? (attrs.axes as number[] | undefined);
  return reduceAxes(rank, axes, attrs.noop_with_empty_axes === 1);
}

/**
 * Infers every value's static shape for the given input dims. Throws a {@link ShapeError} naming
 * the node for an op without a rule or a size it cannot resolve.
 */
export function inferStaticShapes(
  g: GraphBuilder,
  inputDims: Record<string, number[]>,
): Map<string, StaticTensor> {
  const known = new Map<string, StaticTensor>();
  for (const input of g.inputs) {
    const dims = inputDims[input.name] ??
      (input.shape?.every((d) => typeof d === "number") ? input.shape as number[] : undefined);
    if (!dims) throw new ShapeError(`no dims given for graph input ${input.name}`);
    known.set(input.name, { dtype: input.dtype, dims });
  }
  const get = (name: string): StaticTensor | undefined => {
    if (!name) return undefined;
    let t = known.get(name);
    if (!t) {
      t = initializerTensor(g, name);
      if (t) known.set(name, t);
    }
    return t;
  };
  for (const node of g.nodes) {
    const inputs = (node.input ?? []).map((n) => get(n));
    try {
      const outputs = inferNode(node, inputs);
      outputs.forEach((t, i) => {
        if (t.values && t.values.length > KEEP_VALUES) delete t.values;
        known.set(node.output![i], t);
      });
    } catch (error) {
      throw new ShapeError(`node ${node.name} (${node.opType}): ${(error as Error).message}`);
    }
  }
  return known;
}

function need(t: StaticTensor | undefined, what: string): StaticTensor {
  if (!t) throw new Error(`input ${what} is unknown`);
  return t;
}

function values(t: StaticTensor | undefined, what: string): number[] {
  if (!t?.values) throw new Error(`${what} must be known statically`);
  return t.values;
}

function inferNode(
  node: onnxProto.onnx.INodeProto,
  inputs: (StaticTensor | undefined)[],
): StaticTensor[] {
  const op = node.opType!;
  const attrs = nodeAttributes(node);
  const [a, b] = inputs;
  if (ELEMENTWISE.has(op)) {
    const x = need(a, "A"), y = need(b, "B");
    const dims = broadcast(x.dims, y.dims);
    const dtype: DType = COMPARE.has(op) ? "bool" : x.dtype;
    const out: StaticTensor = { dtype, dims };
    if (x.values && y.values && numel(dims) <= KEEP_VALUES) {
      const integer = x.dtype === "int64" || x.dtype === "int32";
      out.values = Array.from(
        { length: numel(dims) },
        (_, i) =>
          elementwiseValue(
            op,
            x.values![broadcastIndex(dims, x.dims, i)],
            y.values![broadcastIndex(dims, y.dims, i)],
            integer,
          ),
      );
    }
    return [out];
  }
  if (op === "Where") {
    const [c, x, y] = inputs.map((t, i) => need(t, `input ${i}`));
    const dims = broadcast(c.dims, x.dims, y.dims);
    const out: StaticTensor = { dtype: x.dtype, dims };
    if (c.values && x.values && y.values && numel(dims) <= KEEP_VALUES) {
      out.values = Array.from(
        { length: numel(dims) },
        (_, i) =>
          c.values![broadcastIndex(dims, c.dims, i)]
            ? x.values![broadcastIndex(dims, x.dims, i)]
            : y.values![broadcastIndex(dims, y.dims, i)],
      );
    }
    return [out];
  }
  if (SAME_SHAPE.has(op)) {
    const x = need(a, "X");
    let dtype = x.dtype;
    if (op === "Cast") dtype = DTYPE_CODE[attrs.to as number];
    if (op === "Not") dtype = "bool";
    const out: StaticTensor = { dtype, dims: x.dims };
    if (x.values && (op === "Cast" || op === "Identity")) {
      out.values = dtype === "int64" ? x.values.map(Math.trunc) : [...x.values];
    }
    if (x.values && op === "Not") out.values = x.values.map((v) => (v ? 0 : 1));
    if (x.values && op === "Neg") out.values = x.values.map((v) => -v);
    return [out];
  }
  if (op === "LayerNormalization") {
    const x = need(a, "X");
    const axis = (attrs.axis as number | undefined) ?? -1;
    const ax = axis < 0 ? axis + x.dims.length : axis;
    const stat = x.dims.map((d, i) => (i < ax ? d : 1));
    return [{ dtype: x.dtype, dims: x.dims }, { dtype: "float32", dims: stat }, {
      dtype: "float32",
      dims: stat,
    }];
  }
  if (op === "Shape") {
    const x = need(a, "data");
    const rank = x.dims.length;
    const norm = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = norm((attrs.start as number | undefined) ?? 0);
    const end = norm((attrs.end as number | undefined) ?? rank);
    const dims = x.dims.slice(start, end);
    return [{ dtype: "int64", dims: [dims.length], values: dims }];
  }
  if (op === "MatMul") {
    const x = need(a, "A"), y = need(b, "B");
    if (x.dims.length < 2 || y.dims.length < 2) throw new Error("MatMul of rank < 2");
    if (x.dims.at(-1) !== y.dims.at(-2)) throw new Error(`MatMul [${x.dims}] x [${y.dims}]`);
    const batch = broadcast(x.dims.slice(0, -2), y.dims.slice(0, -2));
    return [{ dtype: x.dtype, dims: [...batch, x.dims.at(-2)!, y.dims.at(-1)!] }];
  }
  if (op === "Transpose") {
    const x = need(a, "data");
    const perm = (attrs.perm as number[] | undefined) ??
      x.dims.map((_, i) => x.dims.length - 1 - i);
    return [{ dtype: x.dtype, dims: perm.map((p) => x.dims[p]) }];
  }
  if (op === "Conv" || op === "DeformConv") {
    const x = need(a, "X"), w = need(b, "W");
    const kernel = (attrs.kernel_shape as number[] | undefined) ?? w.dims.slice(2);
    const strides = (attrs.strides as number[] | undefined) ?? kernel.map(() => 1);
    const dilations = (attrs.dilations as number[] | undefined) ?? kernel.map(() => 1);
    const pads = (attrs.pads as number[] | undefined) ?? [...kernel, ...kernel].map(() => 0);
    const spatial = kernel.map((k, i) =>
      Math.floor(
        (x.dims[2 + i] + pads[i] + pads[i + kernel.length] - ((k - 1) * dilations[i] + 1)) /
          strides[i],
      ) + 1
    );
    return [{ dtype: x.dtype, dims: [x.dims[0], w.dims[0], ...spatial] }];
  }
  if (op === "ConvTranspose") {
    const x = need(a, "X"), w = need(b, "W");
    const group = (attrs.group as number | undefined) ?? 1;
    const kernel = w.dims.slice(2);
    const strides = (attrs.strides as number[] | undefined) ?? kernel.map(() => 1);
    const dilations = (attrs.dilations as number[] | undefined) ?? kernel.map(() => 1);
    const pads = (attrs.pads as number[] | undefined) ?? [...kernel, ...kernel].map(() => 0);
    const outPad = (attrs.output_padding as number[] | undefined) ?? kernel.map(() => 0);
    const spatial = kernel.map((k, i) =>
      strides[i] * (x.dims[2 + i] - 1) + outPad[i] + (k - 1) * dilations[i] + 1 - pads[i] -
      pads[i + kernel.length]
    );
    return [{ dtype: x.dtype, dims: [x.dims[0], w.dims[1] * group, ...spatial] }];
  }
  if (["ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceProd"].includes(op)) {
    const x = need(a, "data");
    const axes = reductionAxes(node, x.dims.length, b);
    const keep = ((attrs.keepdims as number | undefined) ?? 1) === 1;
    const dims = keep
      ? x.dims.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.dims.filter((_, i) => !axes.includes(i));
    return [{ dtype: x.dtype, dims }];
  }
  if (op === "Concat") {
    const parts = inputs.map((t, i) => need(t, `input ${i}`));
    const rank = parts[0].dims.length;
    const axis = (attrs.axis as number) < 0 ? (attrs.axis as number) + rank : attrs.axis as number;
    const dims = [...parts[0].dims];
    dims[axis] = parts.reduce((sum, p) => sum + p.dims[axis], 0);
    const out: StaticTensor = { dtype: parts[0].dtype, dims };
    if (rank === 1 && parts.every((p) => p.values)) out.values = parts.flatMap((p) => p.values!);
    return [out];
  }
  if (op === "Split") {
    const x = need(a, "input");
    const axisRaw = (attrs.axis as number | undefined) ?? 0;
    const axis = axisRaw < 0 ? axisRaw + x.dims.length : axisRaw;
    const sizes = values(b, "split");
    return sizes.map((s) => ({ dtype: x.dtype, dims: x.dims.map((d, i) => (i === axis ? s : d)) }));
  }
  if (op === "Slice") {
    const x = need(a, "data");
    const spec = sliceSpec(
      x.dims,
      values(inputs[1], "starts"),
      values(inputs[2], "ends"),
      inputs[3]?.values,
      inputs[4]?.values,
    );
    const dims = [...x.dims];
    for (const s of spec) dims[s.axis] = s.count;
    const out: StaticTensor = { dtype: x.dtype, dims };
    if (x.values && x.dims.length === 1 && spec.length === 1) {
      const s = spec[0];
      out.values = Array.from({ length: s.count }, (_, i) => x.values![s.start + i * s.step]);
    }
    return [out];
  }
  if (op === "Reshape") {
    const x = need(a, "data");
    const target = values(b, "shape");
    const dims = target.map((d, i) => (d === 0 ? x.dims[i] : d));
    const unknown = dims.indexOf(-1);
    if (unknown >= 0) {
      const rest = dims.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
      dims[unknown] = numel(x.dims) / rest;
    }
    if (numel(dims) !== numel(x.dims)) throw new Error(`cannot reshape [${x.dims}] to [${target}]`);
    const out: StaticTensor = { dtype: x.dtype, dims };
    if (x.values) out.values = [...x.values];
    return [out];
  }
  if (op === "Unsqueeze" || op === "Squeeze") {
    const x = need(a, "data");
    let dims: number[];
    if (op === "Unsqueeze") {
      const rank = x.dims.length + values(b, "axes").length;
      const axes = values(b, "axes").map((v) => (v < 0 ? v + rank : v));
      dims = [];
      let k = 0;
      for (let i = 0; i < rank; i++) dims.push(axes.includes(i) ? 1 : x.dims[k++]);
    } else {
      const axes = b
        ? values(b, "axes").map((v) => (v < 0 ? v + x.dims.length : v))
        : x.dims.flatMap((d, i) => (d === 1 ? [i] : []));
      dims = x.dims.filter((_, i) => !axes.includes(i));
    }
    const out: StaticTensor = { dtype: x.dtype, dims };
    if (x.values) out.values = [...x.values];
    return [out];
  }
  if (op === "Range") {
    const [start, limit, delta] = [0, 1, 2].map((i) => values(inputs[i], `input ${i}`)[0]);
    const count = Math.max(0, Math.ceil((limit - start) / delta));
    const out: StaticTensor = { dtype: need(a, "start").dtype, dims: [count] };
    if (count <= KEEP_VALUES) {
      out.values = Array.from({ length: count }, (_, i) => start + i * delta);
    }
    return [out];
  }
  if (op === "ConstantOfShape") {
    const dims = values(a, "input");
    return [{ dtype: "float32", dims }];
  }
  if (op === "Expand") {
    const x = need(a, "input");
    const dims = broadcast(x.dims, values(b, "shape"));
    return [{ dtype: x.dtype, dims }];
  }
  if (op === "Gather") {
    const x = need(a, "data"), idx = need(b, "indices");
    const axisRaw = (attrs.axis as number | undefined) ?? 0;
    const axis = axisRaw < 0 ? axisRaw + x.dims.length : axisRaw;
    const dims = [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)];
    const out: StaticTensor = { dtype: x.dtype, dims };
    if (x.values && idx.values && x.dims.length === 1) {
      out.values = idx.values.map((i) => x.values![i < 0 ? i + x.dims[0] : i]);
    }
    return [out];
  }
  if (op === "GatherElements") {
    return [{ dtype: need(a, "data").dtype, dims: need(b, "indices").dims }];
  }
  if (op === "ScatterElements" || op === "ScatterND") {
    const x = need(a, "data");
    return [{ dtype: x.dtype, dims: x.dims }];
  }
  if (op === "Pad") {
    const x = need(a, "data");
    const pads = values(b, "pads");
    const rank = x.dims.length;
    return [{ dtype: x.dtype, dims: x.dims.map((d, i) => d + pads[i] + pads[i + rank]) }];
  }
  if (op === "Resize") {
    const x = need(a, "X");
    const sizes = inputs[3]?.values;
    const scales = inputs[2]?.values;
    const dims = sizes ?? x.dims.map((d, i) => Math.floor(d * scales![i]));
    return [{ dtype: x.dtype, dims }];
  }
  if (op === "GridSample") {
    const x = need(a, "X"), grid = need(b, "grid");
    return [{ dtype: x.dtype, dims: [x.dims[0], x.dims[1], grid.dims[1], grid.dims[2]] }];
  }
  throw new Error(`no static shape rule for ${op}`);
}
