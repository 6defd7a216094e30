/**
 * A load-time rewrite for the webgpu engine: every `Softmax` node becomes `ReduceMax`, `Sub`,
 * `Exp`, `ReduceSum` and `Div` over the same axis. onnxruntime-web 1.30's WebGPU Softmax is
 * wrong for every element past byte 134,217,728 of its input (issue #21; see
 * `tools/ort-web-softmax-repro.ts`), while each op of the decomposition is correct at any size
 * (the large-op test, `tests/engines/large_ops_test.ts`). The decomposition computes what ORT's
 * kernel computes (subtract the row maximum, exponentiate, divide by the sum), so results agree
 * within float32 rounding. Other engines keep the plain Softmax.
 *
 * @module
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

const INT64 = 7;
const FLOAT = 1;
const FLOAT16 = 10;

/** The default-domain opset a model imports. */
function defaultOpset(model: onnxProto.onnx.ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  return Number(entry?.version ?? 0);
}

/**
 * The model with each Softmax node replaced by its decomposition (output names kept, so the
 * nodes that read a Softmax output, gradients included, are unchanged). Returns the model bytes
 * unchanged when it has no Softmax. Models below opset 13 (whose Softmax flattens the trailing
 * axes into one) are refused, naming the opset.
 *
 * With `float32` (for float16 graphs) the decomposition computes in float32 between two Casts,
 * as onnxruntime's own float16 Softmax accumulates: a float16 sum of exponentials loses digits.
 */
export function decomposeSoftmax(
  modelBytes: Uint8Array,
  options: { float32?: boolean } = {},
): { model: Uint8Array; rewritten: number } {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph!;
  if (!(graph.node ?? []).some((n) => n.opType === "Softmax" && !n.domain)) {
    return { model: modelBytes, rewritten: 0 };
  }
  const opset = defaultOpset(model);
  if (opset < 13) {
    throw new RangeError(
      `decomposeSoftmax: the model imports opset ${opset}; Softmax below opset 13 normalizes over flattened axes, which this rewrite does not handle (re-export at opset 13 or later)`,
    );
  }
  const taken = new Set<string>();
  for (const node of graph.node ?? []) {
    for (const name of [...(node.input ?? []), ...(node.output ?? [])]) taken.add(name);
  }
  for (const init of graph.initializer ?? []) taken.add(init.name!);
  const unique = (base: string) => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const axesNames = new Map<number, string>();
  const axesInput = (axis: number) => {
    let name = axesNames.get(axis);
    if (!name) {
      name = unique(`softmax_decomposed/axes_${axis < 0 ? `m${-axis}` : axis}`);
      axesNames.set(axis, name);
      graph.initializer!.push(onnx.TensorProto.create({
        name,
        dataType: INT64,
        dims: [1],
        rawData: new Uint8Array(BigInt64Array.of(BigInt(axis)).buffer),
      }));
    }
    return name;
  };
  graph.initializer ??= [];
  const { INT, INTS } = onnx.AttributeProto.AttributeType;
  const keep = { name: "keepdims", type: INT, i: 1 };
  const nodes: onnxProto.onnx.INodeProto[] = [];
  let rewritten = 0;
  for (const node of graph.node ?? []) {
    if (node.opType !== "Softmax" || node.domain) {
      nodes.push(node);
      continue;
    }
    rewritten++;
    const axis = Number(node.attribute?.find((a) => a.name === "axis")?.i ?? -1);
    const base = node.name || node.output![0];
    let [x] = node.input!;
    let [y] = node.output!;
    const finalOutput = y;
    if (options.float32) {
      const wide = unique(`${base}/x_fp32`);
      nodes.push(onnx.NodeProto.create({
        name: `${base}/to_fp32`,
        opType: "Cast",
        input: [x],
        output: [wide],
        attribute: [{ name: "to", type: INT, i: FLOAT }],
      }));
      x = wide;
      y = unique(`${base}/y_fp32`);
    }
    const max = unique(`${base}/max`);
    const shifted = unique(`${base}/shifted`);
    const exp = unique(`${base}/exp`);
    const sum = unique(`${base}/sum`);
    // ReduceMax takes its axes as an input from opset 18, ReduceSum from opset 13
    const reduceMax = opset >= 18
      ? { input: [x, axesInput(axis)], attribute: [keep] }
      : { input: [x], attribute: [keep, { name: "axes", type: INTS, ints: [axis] }] };
    nodes.push(
      onnx.NodeProto.create({
        name: `${base}/ReduceMax`,
        opType: "ReduceMax",
        output: [max],
        ...reduceMax,
      }),
      onnx.NodeProto.create({
        name: `${base}/Sub`,
        opType: "Sub",
        input: [x, max],
        output: [shifted],
      }),
      onnx.NodeProto.create({
        name: `${base}/Exp`,
        opType: "Exp",
        input: [shifted],
        output: [exp],
      }),
      onnx.NodeProto.create({
        name: `${base}/ReduceSum`,
        opType: "ReduceSum",
        input: [exp, axesInput(axis)],
        output: [sum],
        attribute: [keep],
      }),
      onnx.NodeProto.create({ name: `${base}/Div`, opType: "Div", input: [exp, sum], output: [y] }),
    );
    if (options.float32) {
      nodes.push(onnx.NodeProto.create({
        name: `${base}/to_fp16`,
        opType: "Cast",
        input: [y],
        output: [finalOutput],
        attribute: [{ name: "to", type: INT, i: FLOAT16 }],
      }));
    }
  }
  graph.node = nodes;
  return { model: onnx.ModelProto.encode(model).finish(), rewritten };
}
