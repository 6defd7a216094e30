/**
 * The recomputing train step (the fusion tower cut into segments whose activations are
 * recomputed in the backward pass) returns the loss and gradients of the one-graph step: on the
 * nano model with every layer its own segment, for all three kinds of gradient (prompt offset,
 * head weights, the step's input features), and on a GLIP-T-shaped head (two blocks) at a small
 * size. The
 * plan follows the budget: one segment when the whole graph fits, a clear refusal below what one
 * layer needs.
 */
import * as ort from "onnxruntime-node";
import { type GlipArchitecture, presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import {
  buildTrainForward,
  buildTrainStep,
  type LevelSizes,
  promptTuningRecomputingStep,
  type TrainStepOptions,
} from "../../models/train/prompt_tuning_graph.ts";
import { MemoryBudgetError, planSegments } from "../../models/train/recompute.ts";
import { batchNormalizers, imageStepTargets, lossFeeds } from "../../models/train/step_inputs.ts";
import { onnxRuntime } from "../../models/train/runtime.ts";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { randomData } from "../autodiff/gradcheck.ts";

/** Feeds of one step: random features and text, two boxes' targets, a random prompt offset. */
function stepFeeds(arch: GlipArchitecture, levels: LevelSizes): Record<string, ort.Tensor> {
  const T = arch.maxQueryLength, D = arch.bert.hiddenSize, C = arch.fpnChannels;
  const [h, w] = [levels[0][0] * 8, levels[0][1] * 8];
  const step = imageStepTargets(arch, levels, [
    { box: [0.1 * w, 0.2 * h, 0.45 * w, 0.7 * h], tokens: [1, 2] },
    { box: [0.5 * w, 0.3 * h, 0.9 * w, 0.9 * h], tokens: [4] },
  ]);
  const feeds: Record<string, ort.Tensor> = {
    lang_hidden: new ort.Tensor("float32", randomData(T * D, 1), [1, T, D]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(T).fill(1n, 0, 12), [1, T]),
    prompt_offset: new ort.Tensor("float32", randomData(T * D, 2, [-0.1, 0.1]), [1, T, D]),
    ...lossFeeds(step, batchNormalizers([step.targets])),
  };
  levels.forEach(([lh, lw], i) => {
    feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", randomData(C * lh * lw, 10 + i), [
      1,
      C,
      lh,
      lw,
    ]);
  });
  return feeds;
}

/** Largest difference between two outputs relative to the plain one's largest magnitude. */
function scaledDifference(actual: ort.Tensor, expected: ort.Tensor): number {
  const a = actual.data as Float32Array, e = expected.data as Float32Array;
  assertEquals(a.length, e.length);
  let diff = 0, scale = 0;
  for (let k = 0; k < e.length; k++) {
    diff = Math.max(diff, Math.abs(a[k] - e[k]));
    scale = Math.max(scale, Math.abs(e[k]));
  }
  return scale === 0 ? diff : diff / scale;
}

/**
 * Runs the one-graph step and the recomputing step with one segment per layer and compares
 * every output; returns the number of segments and the names of the weights trained.
 */
async function compareSteps(
  arch: GlipArchitecture,
  levels: LevelSizes,
  options: TrainStepOptions,
  feeds: Record<string, ort.Tensor>,
): Promise<{ segments: number; trained: string[] }> {
  const weights = new RandomWeights(5);
  const plain = buildTrainStep(arch, weights, levels, options);
  for (const t of plain.trainable) {
    feeds[t.value.name] = new ort.Tensor("float32", t.initial, t.value.shape as number[]);
  }
  const session = await onnxRuntime().create(plain.graph.build().model);
  const expected = await session.run(feeds);
  await session.release();
  const { step } = await promptTuningRecomputingStep(arch, weights, levels, {
    ...options,
    everyLayer: true,
    memoryBudgetBytes: 2 ** 40,
  });
  try {
    const actual = await step.run(feeds);
    assertEquals(Object.keys(actual).sort(), Object.keys(expected).sort());
    for (const name of Object.keys(expected)) {
      const difference = scaledDifference(actual[name], expected[name]);
      // float32 rounding: the segment graphs may get other kernels than the one graph
      assert(difference <= 1e-5, `${name}: recomputed differs by ${difference} of its scale`);
    }
    return {
      segments: step.plan.segments.length,
      trained: plain.trainable.map((t) => t.value.name),
    };
  } finally {
    await step.release();
  }
}

const NANO_LEVELS: LevelSizes = [[8, 12], [4, 6], [2, 3], [1, 2], [1, 1]];

Deno.test("recomputed nano step: loss and every gradient equal the one-graph step's", async () => {
  const arch = presetArchitecture("nano");
  const options: TrainStepOptions = {
    trainWeights: (name) =>
      name === "rpn.head.dyhead_tower.0.b_attn.attn.l_proj.weight" ||
      name === "rpn.head.bbox_pred.weight",
    inputGradients: ["fpn_p3", "fpn_p5", "lang_hidden"],
  };
  const { segments } = await compareSteps(arch, NANO_LEVELS, options, stepFeeds(arch, NANO_LEVELS));
  const towerModules = arch.dyhead.numConvs * 3;
  assert(segments > towerModules, `${segments} segments for ${towerModules} tower modules`);
});

Deno.test("recomputed GLIP-T-shaped step equals the one-graph step at a small size: prompt, head weights, inputs", async () => {
  // GLIP-T's widths (256 channels, 768-wide text, 256 tokens) with two of its six blocks, to keep
  // the test short; every block is built alike. Besides the prompt offset (prompt tuning), the
  // gradients of head weights in the fusion, the tower and the box branch and of the step's
  // inputs (what full-model tuning passes on to the backbones' vector-Jacobians)
  const arch = structuredClone(presetArchitecture("glip-t"));
  arch.dyhead.numConvs = 2;
  const levels: LevelSizes = [[8, 8], [4, 4], [2, 2], [1, 1], [1, 1]];
  const trained = new Set([
    "rpn.head.dyhead_tower.0.b_attn.attn.l_proj.weight",
    "rpn.head.dyhead_tower.2.DyConv.1.conv.weight",
    "rpn.head.bbox_pred.weight",
  ]);
  const options: TrainStepOptions = {
    trainWeights: (name) => trained.has(name),
    inputGradients: ["fpn_p3", "fpn_p7", "lang_hidden"],
  };
  const result = await compareSteps(arch, levels, options, stepFeeds(arch, levels));
  assertEquals(result.trained.sort(), [...trained].sort());
  assert(result.segments > arch.dyhead.numConvs * 3, `only ${result.segments} segments`);
});

Deno.test("the plan packs layers into as few segments as the budget allows", () => {
  const forward = buildTrainForward(presetArchitecture("nano"), new RandomWeights(5), NANO_LEVELS);
  const every = planSegments(forward, 2 ** 40, { everyLayer: true });
  const tight = planSegments(forward, every.minimumBudgetBytes);
  assert(tight.segments.length > 1 && tight.segments.length < every.segments.length);
  assert(tight.estimatedPeakBytes <= tight.budgetBytes);
  assertEquals(tight.segments.at(-1)!.end, forward.graph.nodes.length);
  assertEquals(tight.cuts, tight.segments.slice(1).map((s) => s.start));
});

Deno.test("a budget that holds the whole step plans one segment (the plain step)", () => {
  const forward = buildTrainForward(presetArchitecture("nano"), new RandomWeights(5), NANO_LEVELS);
  const plan = planSegments(forward, 2 ** 40);
  assertEquals(plan.cuts, []);
  assertEquals(plan.segments.length, 1);
  assert(plan.estimatedPeakBytes <= 2 ** 40);
});

Deno.test("the plan refuses a budget below what one layer needs, naming the layer", () => {
  const forward = buildTrainForward(presetArchitecture("nano"), new RandomWeights(5), NANO_LEVELS);
  const { minimumBudgetBytes } = planSegments(forward, 2 ** 40);
  const error = assertThrows(
    () => planSegments(forward, minimumBudgetBytes - 1),
    MemoryBudgetError,
  );
  assert(/the layer rpn\.head\.dyhead_tower\.\d+ needs about/.test(error.message), error.message);
  assert(error.message.includes("--train-memory"), error.message);
});
