/**
 * The prompt-tuning train step as one ONNX graph: GLIP's fusion + head (decomposed deformable
 * conv) on cached FPN features and text features, GLIP's detection loss against one image's
 * targets, and the backward pass to the prompt offset (`rpn.tunable_linear.weight[:T]`, what
 * `language_prompt_v2` trains). Everything else is frozen, so the backbones run once per image
 * and the step graph is all that training executes.
 *
 * Shapes are static (the gradient builder resolves them for the given feature sizes), so there
 * is one graph per distinct set of FPN level sizes; a multi-scale schedule builds a few.
 *
 * Outputs: `loss`, `loss_token`, `loss_regression`, `loss_centerness` (scalars) and
 * `grad_prompt_offset` [1, T, D]. {@link buildTrainStep} also trains head weights: the selected
 * ones become graph inputs (fed each step) with their gradients as `grad/<name>`.
 *
 * @module
 */
import { GraphBuilder, type Value } from "../graph/builder.ts";
import type { GlipArchitecture } from "../glip/config.ts";
import { vlDyHead } from "../glip/head.ts";
import type { WeightSource } from "../glip/weights.ts";
import { detectionLoss } from "./detection_loss.ts";
import {
  appendWholeBackward,
  type RecomputeOptions,
  RecomputingStep,
  type TrainForwardGraph,
} from "./recompute.ts";

/** FPN level sizes [height, width] for P3..P7. */
export type LevelSizes = [number, number][];

/** Names of the step graph's inputs besides the features and text. */
export const STEP_INPUTS = [
  "token_targets",
  "anchor_geometry",
  "target_boxes",
  "centerness_targets",
  "positive",
  "loss_normalizers",
] as const;

/** Builds the prompt-tuning step graph for one set of level sizes. */
export function buildPromptTuningStep(
  arch: GlipArchitecture,
  weights: WeightSource,
  levels: LevelSizes,
): GraphBuilder {
  return buildTrainStep(arch, weights, levels).graph;
}

/** What {@link buildTrainStep} trains besides the prompt offset. */
export interface TrainStepOptions {
  /** Differentiate with respect to the prompt offset (default true). */
  promptOffset?: boolean;
  /** Head weights to train, by parameter name. */
  trainWeights?: (name: string) => boolean;
  /**
   * Also output the gradients of these graph inputs as `grad/<input>` (the FPN levels and
   * `lang_hidden`, for backpropagating into the backbones' graphs).
   */
  inputGradients?: string[];
}

/** A train step graph and the weights it takes as inputs (with their values in `weights`). */
export interface TrainStep {
  graph: GraphBuilder;
  trainable: { value: Value; initial: Float32Array }[];
}

/** Builds a train step: loss, and gradients to the prompt offset and/or selected head weights. */
export function buildTrainStep(
  arch: GlipArchitecture,
  weights: WeightSource,
  levels: LevelSizes,
  options: TrainStepOptions = {},
): TrainStep {
  const forward = buildTrainForward(arch, weights, levels, options);
  return { graph: appendWholeBackward(forward), trainable: forward.trainable };
}

/**
 * The forward half of {@link buildTrainStep}: the graph up to the loss, what to differentiate
 * and the output name of each gradient, for a step that recomputes by segments
 * ({@link promptTuningRecomputingStep}).
 */
export interface TrainForward extends TrainForwardGraph {
  trainable: { value: Value; initial: Float32Array }[];
}

/** The train step's forward graph (loss and its parts as outputs) and what it differentiates. */
export function buildTrainForward(
  arch: GlipArchitecture,
  weights: WeightSource,
  levels: LevelSizes,
  options: TrainStepOptions = {},
): TrainForward {
  const g = new GraphBuilder("glip_prompt_tuning_step");
  const C = arch.fpnChannels;
  const T = arch.maxQueryLength;
  const D = arch.bert.hiddenSize;
  const N = levels.reduce((sum, [h, w]) => sum + h * w, 0);
  const features = levels.map(([h, w], i) => g.input(`fpn_p${i + 3}`, "float32", [1, C, h, w]));
  const langHidden = g.input("lang_hidden", "float32", [1, T, D]);
  const mask = g.input("attention_mask", "int64", [1, T]);
  const promptOffset = g.input("prompt_offset", "float32", [1, T, D]);
  const maskFloat = g.op("Cast", [mask], { to: 1 }, { dtype: "float32", shape: [1, T] });
  const head = vlDyHead(
    { g, w: weights },
    arch,
    { features, langHidden, maskFloat, promptOffset },
    "decomposed",
  );
  const loss = detectionLoss(g, head, {
    tokenTargets: g.input("token_targets", "float32", [1, N, T]),
    anchorGeometry: g.input("anchor_geometry", "float32", [N, 4]),
    targetBoxes: g.input("target_boxes", "float32", [N, 4]),
    centernessTargets: g.input("centerness_targets", "float32", [N]),
    positive: g.input("positive", "float32", [N]),
    normalizers: g.input("loss_normalizers", "float32", [3]),
    textMask: maskFloat,
  });
  const outputs = [
    g.output(loss.total, "loss"),
    g.output(loss.token, "loss_token"),
    g.output(loss.regression, "loss_regression"),
    g.output(loss.centerness, "loss_centerness"),
  ].map((v) => v.name);
  const trainable = options.trainWeights ? g.promoteWeightsToInputs(options.trainWeights) : [];
  const withOffset = options.promptOffset ?? true;
  const inputs = options.inputGradients ?? [];
  for (const name of inputs) {
    if (!g.inputs.some((v) => v.name === name)) throw new Error(`train step: no input ${name}`);
  }
  const gradientOutputs = new Map<string, string>([
    ...inputs.map((name) => [name, `grad/${name}`] as [string, string]),
    ...(withOffset ? [["prompt_offset", "grad_prompt_offset"] as [string, string]] : []),
    ...trainable.map(({ value }) => [value.name, `grad/${value.name}`] as [string, string]),
  ]);
  return {
    graph: g,
    loss: "loss",
    outputs,
    wrt: [
      ...(withOffset ? ["prompt_offset"] : []),
      ...trainable.map((t) => t.value.name),
      ...inputs,
    ],
    trainable,
    gradientOutputs,
  };
}

/**
 * The train step of {@link buildTrainStep} as a {@link RecomputingStep}: the same outputs and
 * gradients, with the fusion tower cut into segments that fit `options.memoryBudgetBytes`.
 */
export async function promptTuningRecomputingStep(
  arch: GlipArchitecture,
  weights: WeightSource,
  levels: LevelSizes,
  options: TrainStepOptions & RecomputeOptions = {},
): Promise<{ step: RecomputingStep; trainable: TrainForward["trainable"] }> {
  const forward = buildTrainForward(arch, weights, levels, options);
  const step = await RecomputingStep.create(forward, forward.gradientOutputs, options);
  return { step, trainable: forward.trainable };
}
