/**
 * Reverse-mode differentiation of a graph under construction: given a scalar loss and the values
 * to differentiate with respect to, appends the backward pass to the same {@link GraphBuilder},
 * so one ONNX graph computes the loss and its gradients (a "train step"). Only nodes on a path
 * from a requested value to the loss are differentiated; gradients reaching a value from several
 * consumers are summed. Shapes are resolved statically for the given input sizes first, so the
 * resulting graph is specific to them.
 *
 * @example
 * ```ts
 * import { GraphBuilder } from "../graph/builder.ts";
 * import { appendGradients } from "./backward.ts";
 * const g = new GraphBuilder("square");
 * const x = g.input("x", "float32", [3]);
 * const loss = g.op("ReduceSum", [g.op("Mul", [x, x]), g.ints([0])], { keepdims: 0 });
 * g.output(loss, "loss");
 * const gradients = appendGradients(g, loss, [x], {});
 * g.output(gradients.get("x")!, "grad_x"); // 2 x
 * ```
 *
 * @module
 */
import type { GraphBuilder, Value } from "../graph/builder.ts";
import { inferStaticShapes, nodeAttributes, type StaticTensor } from "../graph/static_shapes.ts";
import { GRADIENT_RULES, type RuleContext } from "./rules.ts";

/** A failure to differentiate, naming the node. */
export class GradientError extends Error {
  override name = "GradientError";
}

/**
 * Appends the gradients of `loss` (a float32 scalar or one-element tensor) with respect to `wrt`
 * (graph inputs or weights) and returns them by name. `inputDims` fixes the dims of graph inputs
 * whose declared shape is symbolic.
 */
export function appendGradients(
  g: GraphBuilder,
  loss: Value,
  wrt: Value[],
  inputDims: Record<string, number[]>,
): Map<string, Value> {
  const shapes = inferStaticShapes(g, inputDims);
  const lossInfo = shapes.get(loss.name);
  if (!lossInfo) throw new GradientError(`no static shape for ${loss.name}`);
  if (lossInfo.dims.reduce((a, b) => a * b, 1) !== 1) {
    throw new GradientError(`the loss must be a scalar, ${loss.name} has dims [${lossInfo.dims}]`);
  }
  if (!dependsOn(g, shapes, wrt).has(loss.name)) {
    throw new GradientError(
      `the loss ${loss.name} does not depend on ${wrt.map((v) => v.name).join(", ")}`,
    );
  }
  const seeds = new Map([[loss.name, g.constant([1], lossInfo.dims, "float32")]]);
  const result = appendVectorJacobian(g, seeds, wrt, inputDims, shapes);
  for (const v of wrt) {
    if (!result.has(v.name)) throw new GradientError(`no gradient reaches ${v.name}`);
  }
  return result;
}

/**
 * The float32 values that depend on one of `wrt` (including `wrt` themselves), walking the
 * nodes in order.
 */
export function dependsOn(
  g: GraphBuilder,
  shapes: Map<string, StaticTensor>,
  wrt: Value[],
): Set<string> {
  const varying = new Set(wrt.map((v) => v.name));
  for (const node of g.nodes) {
    if (node.input!.some((n) => varying.has(n))) {
      for (const out of node.output!) if (shapes.get(out)?.dtype === "float32") varying.add(out);
    }
  }
  return varying;
}

/**
 * Appends a vector-Jacobian product: `seeds` gives the incoming gradient of some values (the
 * gradient of a scalar loss is a seed of ones on the loss; a recomputed segment of a bigger
 * graph is seeded with the gradients of its outputs and of its inputs accumulated by the
 * segments after it). Returns the gradient of each of `wrt` that some seed reaches: a seed on a
 * value of `wrt` counts as reaching it, and comes first in its sum, so a graph cut into segments
 * adds the same terms in the same order as the whole graph. `shapes` may pass the result of
 * {@link inferStaticShapes} for `inputDims` when the caller has it.
 */
export function appendVectorJacobian(
  g: GraphBuilder,
  seeds: Map<string, Value>,
  wrt: Value[],
  inputDims: Record<string, number[]>,
  shapes: Map<string, StaticTensor> = inferStaticShapes(g, inputDims),
): Map<string, Value> {
  const forward = [...g.nodes];
  const info = (value: Value): StaticTensor => {
    const t = shapes.get(value.name);
    if (!t) throw new GradientError(`no static shape for ${value.name}`);
    return t;
  };
  const valueOf = (name: string): Value | null => {
    if (!name) return null;
    const t = shapes.get(name);
    if (!t) throw new GradientError(`no static shape for ${name}`);
    return { name, dtype: t.dtype, shape: t.dims };
  };
  const varying = dependsOn(g, shapes, wrt);
  const pending = new Map<string, Value[]>();
  for (const [name, seed] of seeds) pending.set(name, [seed]);
  const total = (name: string): Value | null => {
    const parts = pending.get(name);
    if (!parts?.length) return null;
    let sum = parts[0];
    for (const p of parts.slice(1)) sum = g.op("Add", [sum, p]);
    pending.set(name, [sum]);
    return sum;
  };
  for (let k = forward.length - 1; k >= 0; k--) {
    const node = forward[k];
    const grads = node.output!.map((name) => total(name));
    if (grads.every((x) => x === null)) continue;
    const inputs = node.input!.map(valueOf);
    const needs = (i: number) => !!inputs[i] && varying.has(inputs[i]!.name);
    if (!inputs.some((_, i) => needs(i))) continue;
    const rule = GRADIENT_RULES[node.opType!];
    if (!rule) {
      throw new GradientError(`no gradient rule for ${node.opType} (node ${node.name})`);
    }
    const ctx: RuleContext = {
      g,
      node,
      attrs: nodeAttributes(node),
      inputs,
      outputs: node.output!.map((n) => valueOf(n)!),
      info,
      needs,
    };
    let inputGrads: (Value | null)[];
    try {
      inputGrads = g.scope(`grad/${node.name}`, () => rule(ctx, grads));
    } catch (error) {
      if (error instanceof GradientError) throw error;
      throw new GradientError(`node ${node.name} (${node.opType}): ${(error as Error).message}`);
    }
    inputGrads.forEach((grad, i) => {
      if (!grad || !needs(i)) return;
      const name = inputs[i]!.name;
      const list = pending.get(name) ?? [];
      list.push(grad);
      pending.set(name, list);
    });
  }
  const result = new Map<string, Value>();
  for (const v of wrt) {
    const grad = total(v.name);
    if (grad) result.set(v.name, grad);
  }
  return result;
}
