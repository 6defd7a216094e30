/**
 * Recomputation (gradient checkpointing) by graph segments: a forward graph that ends in a scalar
 * loss is cut at node positions into segments; each segment becomes two ONNX graphs of its own:
 *
 * - a forward graph from the segment's inputs to the values later segments use (its
 *   "checkpoints"), and
 * - a backward graph that recomputes the segment's forward pass and appends its vector-Jacobian
 *   product: it takes the segment's inputs and the gradients accumulated so far for its outputs
 *   and inputs (`upstream/<value>`), and returns the updated gradients of its inputs
 *   (`grad/<value>`).
 *
 * Running the forward graphs in order and then the backward graphs in reverse keeps only the
 * checkpoints alive between graphs, so the activations of one segment at a time are in memory.
 * Each backward graph adds the same terms in the same order as the backward pass of the whole
 * graph ({@link appendVectorJacobian}), so the gradients are the whole graph's, up to the
 * kernels onnxruntime picks for each graph.
 *
 * @module
 */
import { type AttributeValue, type DType, GraphBuilder, type Value } from "../graph/builder.ts";
import { inferStaticShapes, type StaticTensor } from "../graph/static_shapes.ts";
import type onnxProto from "onnx-proto";
import { appendVectorJacobian, dependsOn, GradientError } from "./backward.ts";

/** A forward graph to differentiate by segments. */
export interface SegmentableGraph {
  /** The forward graph (nodes in topological order), ending in `loss`. */
  graph: GraphBuilder;
  /** The scalar loss. */
  loss: string;
  /** Graph values returned by a step besides the gradients (`loss`, its parts). */
  outputs: string[];
  /** The values to differentiate with respect to (graph inputs). */
  wrt: string[];
  /** Dims of graph inputs declared with symbolic dims. */
  inputDims?: Record<string, number[]>;
}

/** One segment: its node range and the values that cross its borders. */
export interface SegmentGraphs {
  /** First node (inclusive) and end node (exclusive) in the forward graph. */
  start: number;
  end: number;
  /** Values the segment reads from graph inputs or earlier segments. */
  inputs: string[];
  /** Values the segment produces that later segments read or the step returns. */
  outputs: string[];
  /**
   * The forward graph: inputs by their names, outputs as `checkpoint/<value>`. Absent for the
   * last segment, whose backward graph also returns its outputs, and for a segment with no
   * outputs.
   */
  forward?: GraphBuilder;
  /**
   * The backward graph: inputs as the forward's plus `upstream/<value>` for each of `seeds`;
   * outputs `grad/<value>` for each of `gradients` (and, for the last segment, its `outputs` as
   * `checkpoint/<value>`). Absent when no gradient flows through the segment.
   */
  backward?: GraphBuilder;
  /** Values whose accumulated gradient the backward graph takes (`upstream/<value>`). */
  seeds: string[];
  /** Inputs whose updated gradient the backward graph returns (`grad/<value>`). */
  gradients: string[];
}

/** The name under which a segment graph returns a forward value. */
export const checkpointName = (value: string) => `checkpoint/${value}`;
/** The name of the accumulated gradient a backward graph takes. */
export const upstreamName = (value: string) => `upstream/${value}`;
/** The name of the gradient a backward graph returns. */
export const gradientName = (value: string) => `grad/${value}`;

/**
 * Cuts `source` before each node index in `cuts` (ascending, within 1..nodes-1) and builds the
 * segments' graphs. Throws a {@link GradientError} when a cut is out of range or a value of
 * `wrt` gets no gradient.
 */
export function segmentGraphs(source: SegmentableGraph, cuts: number[]): SegmentGraphs[] {
  const { graph } = source;
  const nodes = graph.nodes;
  const bounds = [0, ...cuts, nodes.length];
  for (let i = 1; i < bounds.length; i++) {
    if (!(bounds[i] > bounds[i - 1])) {
      throw new GradientError(
        `segment cuts must ascend within 1..${nodes.length - 1}, got [${cuts}]`,
      );
    }
  }
  const shapes = inferStaticShapes(graph, source.inputDims ?? {});
  const graphInputs = new Set(graph.inputs.map((v) => v.name));
  for (const name of [...source.wrt, source.loss, ...source.outputs]) {
    if (!shapes.has(name)) throw new GradientError(`no value ${name} in ${graph.name}`);
  }
  const varying = dependsOn(
    graph,
    shapes,
    source.wrt.map((name) => ({ name, dtype: "float32", shape: shapes.get(name)!.dims })),
  );
  // which segment produces each value, and the last segment that reads it
  const producer = new Map<string, number>();
  const lastReader = new Map<string, number>();
  const segmentOf = (k: number) => bounds.findLastIndex((b) => b <= k);
  for (let k = 0; k < nodes.length; k++) {
    const s = segmentOf(k);
    for (const name of nodes[k].input!) if (name) lastReader.set(name, s);
    for (const name of nodes[k].output!) producer.set(name, s);
  }
  const count = bounds.length - 1;
  const segments: SegmentGraphs[] = [];
  for (let s = 0; s < count; s++) {
    const [start, end] = [bounds[s], bounds[s + 1]];
    const inputs = new Set<string>();
    const outputs: string[] = [];
    for (let k = start; k < end; k++) {
      for (const name of nodes[k].input!) {
        if (!name || producer.get(name) === s) continue;
        if (graphInputs.has(name) || producer.has(name)) inputs.add(name);
      }
      for (const name of nodes[k].output!) {
        if ((lastReader.get(name) ?? -1) > s || source.outputs.includes(name)) outputs.push(name);
      }
    }
    segments.push({ start, end, inputs: [...inputs], outputs, seeds: [], gradients: [] });
  }
  for (const name of source.outputs) {
    if (producer.get(name) === undefined) {
      throw new GradientError(`the step output ${name} is a graph input, not a computed value`);
    }
  }
  // backward graphs, last segment first: which values carry a gradient so far
  const hasGradient = new Set<string>();
  for (let s = count - 1; s >= 0; s--) {
    const segment = segments[s];
    const last = s === count - 1;
    // a segment whose values nothing after it reads needs no forward run
    if (!last && segment.outputs.length) segment.forward = forwardGraph(source, shapes, segment, s);
    const producesLoss = producer.get(source.loss) === s;
    segment.seeds = [...segment.outputs, ...segment.inputs].filter((v) => hasGradient.has(v));
    const wanted = segment.inputs.filter((v) => varying.has(v));
    if (!producesLoss && segment.seeds.length === 0) continue;
    if (wanted.length === 0) continue;
    const { graph: g, values } = copySegment(source.graph, shapes, segment, `${graph.name}_${s}`);
    const seeds = new Map<string, Value>();
    for (const name of segment.seeds) {
      const t = shapes.get(name)!;
      seeds.set(name, g.input(upstreamName(name), t.dtype, t.dims));
    }
    if (producesLoss) {
      seeds.set(source.loss, g.constant([1], shapes.get(source.loss)!.dims, "float32"));
    }
    const copiedShapes = inferStaticShapes(g, {});
    const result = appendVectorJacobian(
      g,
      new Map([...seeds].map(([name, seed]) => [values.get(name)!.name, seed])),
      wanted.map((name) => values.get(name)!),
      {},
      copiedShapes,
    );
    for (const name of wanted) {
      const gradient = result.get(values.get(name)!.name);
      if (!gradient) continue;
      g.output(gradient, gradientName(name));
      segment.gradients.push(name);
      hasGradient.add(name);
    }
    if (last) {
      for (const name of segment.outputs) g.output(values.get(name)!, checkpointName(name));
    }
    segment.backward = g;
  }
  if (!segments.at(-1)!.backward) {
    throw new GradientError(`the loss ${source.loss} does not depend on ${source.wrt.join(", ")}`);
  }
  for (const name of source.wrt) {
    if (!hasGradient.has(name)) throw new GradientError(`no gradient reaches ${name}`);
  }
  return segments;
}

function forwardGraph(
  source: SegmentableGraph,
  shapes: Map<string, StaticTensor>,
  segment: SegmentGraphs,
  index: number,
): GraphBuilder {
  const { graph, values } = copySegment(
    source.graph,
    shapes,
    segment,
    `${source.graph.name}_${index}_forward`,
  );
  for (const name of segment.outputs) graph.output(values.get(name)!, checkpointName(name));
  return graph;
}

/**
 * A new graph with the segment's inputs (same names) and a copy of its nodes and the
 * initializers they read; `values` maps the source's value names to the copy's values.
 */
function copySegment(
  source: GraphBuilder,
  shapes: Map<string, StaticTensor>,
  segment: SegmentGraphs,
  name: string,
): { graph: GraphBuilder; values: Map<string, Value> } {
  const g = new GraphBuilder(name, source.opset);
  const values = new Map<string, Value>();
  for (const input of segment.inputs) {
    const t = shapes.get(input)!;
    values.set(input, g.input(input, t.dtype, t.dims));
  }
  const valueOf = (name: string): Value | null => {
    if (!name) return null;
    const known = values.get(name);
    if (known) return known;
    const init = source.initializer(name);
    if (!init) throw new GradientError(`${source.name}: ${name} is neither computed nor stored`);
    const copy = copyInitializer(g, name, init);
    values.set(name, copy);
    return copy;
  };
  for (const node of source.nodes.slice(segment.start, segment.end)) {
    const inputs = node.input!.map(valueOf);
    const outputs = node.output!.map((out) => shapes.get(out)!);
    const scope = node.name!.includes("/") ? node.name!.slice(0, node.name!.lastIndexOf("/")) : "";
    const make = () =>
      g.opMulti(node.opType!, inputs, attributesOf(node), {
        outputs: outputs.length,
        domain: node.domain ?? "",
        dtype: outputs[0].dtype,
        shape: outputs[0].dims,
      });
    const made = scope ? g.scope(scope, make) : make();
    node.output!.forEach((out, i) => {
      values.set(out, { name: made[i].name, dtype: outputs[i].dtype, shape: outputs[i].dims });
    });
  }
  return { graph: g, values };
}

function copyInitializer(
  g: GraphBuilder,
  name: string,
  init: { dtype: DType; dims: number[]; bytes: Uint8Array },
): Value {
  const { bytes } = init;
  if (init.dtype === "float32") {
    // a weight keeps its parameter name (node and error messages stay readable); aligned bytes
    // are shared with the source instead of copied
    const data = bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : new Float32Array(bytes.slice().buffer);
    return g.weight(name, data, init.dims);
  }
  if (init.dtype === "int64") {
    const data = new BigInt64Array(bytes.slice().buffer);
    return g.constant(data, init.dims, "int64");
  }
  if (init.dtype === "bool") return g.constant(Array.from(bytes), init.dims, "bool");
  throw new GradientError(`initializer ${name}: type ${init.dtype} cannot be copied to a segment`);
}

const ATTRIBUTE_FLOAT = 1, ATTRIBUTE_INT = 2, ATTRIBUTE_STRING = 3;
const ATTRIBUTE_FLOATS = 6, ATTRIBUTE_INTS = 7;

/** A node's attributes in the builder's form, keeping float and int apart. */
function attributesOf(node: onnxProto.onnx.INodeProto): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const a of node.attribute ?? []) {
    const name = a.name!;
    if (a.type === ATTRIBUTE_FLOAT) out[name] = { float: Number(a.f ?? 0) };
    else if (a.type === ATTRIBUTE_INT) out[name] = Number(a.i ?? 0);
    else if (a.type === ATTRIBUTE_STRING) out[name] = new TextDecoder().decode(a.s!);
    else if (a.type === ATTRIBUTE_FLOATS) out[name] = { floats: (a.floats ?? []).map(Number) };
    else if (a.type === ATTRIBUTE_INTS) out[name] = (a.ints ?? []).map(Number);
    else {
      throw new GradientError(
        `node ${node.name}: attribute ${name} of type ${a.type} cannot be copied to a segment`,
      );
    }
  }
  return out;
}
