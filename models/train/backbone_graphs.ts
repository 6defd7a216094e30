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
import { inferStaticShapes } from "../graph/static_shapes.ts";
import type { GlipArchitecture } from "../glip/config.ts";
import { buildImageGraph, buildTextGraph } from "../glip/graphs.ts";
import type { WeightSource } from "../glip/weights.ts";
import {
  appendWholeBackward,
  type RecomputeOptions,
  RecomputingStep,
  type TrainForwardGraph,
} from "./recompute.ts";

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
  const forward = vjpForward(which, arch, weights, select, inputDims);
  return { graph: appendWholeBackward(forward), trainable: forward.trainable };
}

/**
 * The forward half of {@link vjpGraph}: the image or text graph ending in the scalar
 * sum(output * upstream) over its outputs, differentiated with respect to the selected weights.
 */
export function vjpForward(
  which: "image" | "text",
  arch: GlipArchitecture,
  weights: WeightSource,
  select: (name: string) => boolean,
  inputDims: Record<string, number[]>,
): WeightedGraph & TrainForwardGraph {
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
  return {
    graph: g,
    trainable,
    loss: loss!.name,
    outputs: [],
    wrt: trainable.map((t) => t.value.name),
    inputDims,
    gradientOutputs: new Map(trainable.map((t) => [t.value.name, `grad/${t.value.name}`])),
  };
}

/**
 * {@link vjpGraph} as a {@link RecomputingStep}: the same feeds and `grad/<weight>` outputs,
 * with the graph cut at Swin blocks or BERT layers into segments that fit
 * `options.memoryBudgetBytes`.
 */
export function recomputingVjpStep(
  which: "image" | "text",
  arch: GlipArchitecture,
  weights: WeightSource,
  select: (name: string) => boolean,
  inputDims: Record<string, number[]>,
  options: RecomputeOptions = {},
): Promise<RecomputingStep> {
  const forward = vjpForward(which, arch, weights, select, inputDims);
  return RecomputingStep.create(forward, forward.gradientOutputs, options);
}
