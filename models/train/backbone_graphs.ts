/**
 * The backbones' graphs for full-model tuning, with their trainable weights as inputs:
 *
 * - forward graphs (the image backbone + FPN, the text encoder) that take the current weights;
 * - vector-Jacobian graphs that take the same weights and the gradient of the loss with respect
 *   to their outputs (the head step's `grad/fpn_pL` and `grad/lang_hidden`) and return the
 *   gradients of the weights. They recompute the forward pass, so the activations of the three
 *   graphs never live at the same time (checkpointing at graph boundaries).
 *
 * @module
 */
import type { GraphBuilder, Value } from "../graph/builder.ts";
import { appendGradients } from "../autodiff/backward.ts";
import { inferStaticShapes } from "../graph/static_shapes.ts";
import type { GlipArchitecture } from "../glip/config.ts";
import { buildImageGraph, buildTextGraph } from "../glip/graphs.ts";
import type { WeightSource } from "../glip/weights.ts";

/** A graph with weights promoted to inputs. */
export interface WeightedGraph {
  graph: GraphBuilder;
  trainable: { value: Value; initial: Float32Array }[];
}

/** The image (`image`) or text (`text`) graph with the selected weights as inputs. */
export function forwardGraph(
  which: "image" | "text",
  arch: GlipArchitecture,
  weights: WeightSource,
  select: (name: string) => boolean,
): WeightedGraph {
  const graph = which === "image" ? buildImageGraph(arch, weights) : buildTextGraph(arch, weights);
  return { graph, trainable: graph.promoteWeightsToInputs(select) };
}

/**
 * The vector-Jacobian graph of the image or text graph: inputs are the graph's own, its selected
 * weights and `upstream/<output>` for each output the head uses; outputs `grad/<weight>`.
 * `inputDims` fixes the symbolic input dims (the image size).
 */
export function vjpGraph(
  which: "image" | "text",
  arch: GlipArchitecture,
  weights: WeightSource,
  select: (name: string) => boolean,
  inputDims: Record<string, number[]>,
): WeightedGraph {
  const { graph: g, trainable } = forwardGraph(which, arch, weights, select);
  const outputs = which === "image" ? [3, 4, 5, 6, 7].map((l) => `fpn_p${l}`) : ["lang_hidden"];
  const shapes = inferStaticShapes(g, inputDims);
  let loss: Value | null = null;
  for (const name of outputs) {
    const dims = shapes.get(name)!.dims;
    const value: Value = { name, dtype: "float32", shape: dims };
    const upstream = g.input(`upstream/${name}`, "float32", dims);
    const term = g.op(
      "ReduceSum",
      [g.op("Mul", [value, upstream]), g.ints(dims.map((_, i) => i))],
      {
        keepdims: 0,
      },
    );
    loss = loss ? g.op("Add", [loss, term]) : term;
  }
  const gradients = appendGradients(g, loss!, trainable.map((t) => t.value), inputDims);
  for (const { value } of trainable) {
    const gradient = gradients.get(value.name);
    if (!gradient) throw new Error(`${which} graph: ${value.name} does not reach its outputs`);
    g.output(gradient, `grad/${value.name}`);
  }
  return { graph: g, trainable };
}
