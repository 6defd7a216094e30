/**
 * The tuners' train steps go through the memory plan (models/train/recompute.ts): a step whose
 * plan is one segment is the one-graph step byte for byte, on the run's runtime as it is; a step
 * that needs segments runs them on the same engine (its arena-less variant); a small budget
 * changes the tuned result only by float32 rounding; a budget below what one layer needs is
 * refused before anything is evaluated or trained.
 */
import { RandomWeights } from "../../models/glip/weights.ts";
import { buildTrainForward, buildTrainStep } from "../../models/train/prompt_tuning_graph.ts";
import { MemoryBudgetError, plannedTrainStep, planSegments } from "../../models/train/recompute.ts";
import {
  onnxRuntime,
  type TrainingRuntime,
  type TrainingSession,
} from "../../models/train/runtime.ts";
import { type PromptTuningProblem, tunePrompt } from "../../models/train/prompt_tuner.ts";
import { tuneFullModel } from "../../models/train/full_tuner.ts";
import { FullModelStep, levelSizesOf } from "../../models/train/full_model_step.ts";
import { fullTuningTrains } from "../../models/train/full_tuner.ts";
import { vjpForward } from "../../models/train/backbone_graphs.ts";
import { buildPrompt } from "../../models/text/prompt.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { randomData } from "../autodiff/gradcheck.ts";
import {
  arch,
  tinyFullProblem,
  tinyFullSettings,
  tinyPromptProblem,
  tinyPromptSettings,
} from "./tuner_fixtures.ts";

const LEVELS = levelSizesOf(96, 128);
const HUGE = 2 ** 40;
const VOCAB = new URL("../../models/text/bert-base-uncased-vocab.txt", import.meta.url).pathname;

/** A runtime that records the models it is given and, if asked, its arena-less variant's. */
function recordingRuntime(models: Uint8Array[], lean?: Uint8Array[]): TrainingRuntime {
  const base = onnxRuntime();
  return {
    description: "recording",
    create(model: Uint8Array): Promise<TrainingSession> {
      models.push(model);
      return base.create(model);
    },
    ...(lean ? { withoutMemoryArena: () => recordingRuntime(lean) } : {}),
  };
}

/** Largest difference relative to the expected values' largest magnitude. */
function scaledDifference(actual: Float32Array, expected: Float32Array): number {
  assertEquals(actual.length, expected.length);
  let diff = 0, scale = 0;
  for (let k = 0; k < expected.length; k++) {
    diff = Math.max(diff, Math.abs(actual[k] - expected[k]));
    scale = Math.max(scale, Math.abs(expected[k]));
  }
  return scale === 0 ? diff : diff / scale;
}

Deno.test("a step planned as one segment is the one-graph step, byte for byte, on the run's runtime", async () => {
  const models: Uint8Array[] = [], lean: Uint8Array[] = [];
  const { session, plan } = await plannedTrainStep(
    buildTrainForward(arch, new RandomWeights(5), LEVELS),
    { memoryBudgetBytes: HUGE, runtime: recordingRuntime(models, lean) },
  );
  await session.release();
  assertEquals(plan.segments.length, 1);
  assertEquals(lean.length, 0, "the one graph runs on the runtime as given");
  assertEquals(models.length, 1);
  const plain = buildTrainStep(arch, new RandomWeights(5), LEVELS).graph.build().model;
  assert(
    models[0].length === plain.length && models[0].every((b, k) => b === plain[k]),
    "the planned one-segment step is the one-graph step's model",
  );
});

Deno.test("a step that needs segments runs them on the run's engine without its arena", async () => {
  const forward = buildTrainForward(arch, new RandomWeights(5), LEVELS);
  const tight = planSegments(forward, HUGE).minimumBudgetBytes;
  const models: Uint8Array[] = [], lean: Uint8Array[] = [];
  const { session, plan } = await plannedTrainStep(forward, {
    memoryBudgetBytes: tight,
    runtime: recordingRuntime(models, lean),
  });
  await session.release();
  assert(plan.segments.length > 1, `${plan.segments.length} segment(s)`);
  assertEquals(models.length, 0, "no segment bypasses the arena-less variant");
  assert(lean.length >= plan.segments.length, `${lean.length} sessions`);
});

/** A val AP that rises every call, so the last epoch is the best whatever the weights. */
function risingAp(): () => Promise<number> {
  let calls = 0;
  return () => Promise.resolve(++calls / 100);
}

Deno.test("prompt tuning in a budget that forces segments reaches the default's offset within float32 rounding", async () => {
  const tune = async (memoryBudgetBytes?: number) => {
    const problem: PromptTuningProblem = {
      ...await tinyPromptProblem(""),
      stateDir: undefined,
      evaluate: risingAp(),
      memoryBudgetBytes,
    };
    return await tunePrompt(problem, tinyPromptSettings(2), 3);
  };
  const forward = buildTrainForward(arch, new RandomWeights(5), LEVELS);
  const tight = planSegments(forward, HUGE).minimumBudgetBytes;
  const plain = await tune();
  const recomputed = await tune(tight);
  assertEquals(plain.memory.plans.map((p) => p.segments), [1]);
  assertEquals(recomputed.memory.budgetBytes, tight);
  assert(recomputed.memory.plans[0].segments > 1, JSON.stringify(recomputed.memory.plans));
  assertEquals(recomputed.bestEpoch, plain.bestEpoch);
  const difference = scaledDifference(recomputed.offset, plain.offset);
  assert(difference <= 1e-5, `offsets differ by ${difference} of their scale`);
});

Deno.test("prompt tuning refuses a budget below one layer's need before evaluating anything", async () => {
  const problem: PromptTuningProblem = {
    ...await tinyPromptProblem(""),
    stateDir: undefined,
    evaluate: () => Promise.reject(new Error("evaluated before the budget was checked")),
    memoryBudgetBytes: 1e6,
  };
  const error = await assertRejects(
    () => tunePrompt(problem, tinyPromptSettings(1), 3),
    MemoryBudgetError,
  );
  assert(error.message.startsWith("prompt tuning at the largest training size"), error.message);
  assert(/a memory budget of 0\.00 GiB/.test(error.message), error.message);
  assert(/needs a budget of at least \d+\.\d\d GiB/.test(error.message), error.message);
  assert(error.message.includes("--train-memory"), error.message);
});

Deno.test("full-model tuning refuses a budget below one layer's need before evaluating anything", async () => {
  const problem = {
    ...await tinyFullProblem(""),
    stateDir: undefined,
    evaluate: () => Promise.reject(new Error("evaluated before the budget was checked")),
    memoryBudgetBytes: 1e6,
  };
  const error = await assertRejects(
    () => tuneFullModel(problem, tinyFullSettings(1), 3),
    MemoryBudgetError,
  );
  assert(error.message.startsWith("full-model tuning: head step"), error.message);
  assert(error.message.includes("--train-memory"), error.message);
});

Deno.test("a full-model step in a budget that forces segments returns the default's loss and gradients", async () => {
  const weights = new RandomWeights(3);
  const dims = { image: [1, 3, 96, 128] };
  // the smallest budget all three train graphs fit in: the largest of them (the head at this
  // size) is segmented; the backbones' graphs alone are compared segment by segment in
  // recompute_backbone_test.ts
  const budget = Math.max(
    planSegments(
      buildTrainForward(arch, weights, LEVELS, {
        promptOffset: false,
        trainWeights: fullTuningTrains,
        inputGradients: ["fpn_p3", "fpn_p4", "fpn_p5", "fpn_p6", "fpn_p7", "lang_hidden"],
      }),
      HUGE,
    ).minimumBudgetBytes,
    planSegments(vjpForward("image", arch, weights, fullTuningTrains, dims), HUGE)
      .minimumBudgetBytes,
    planSegments(vjpForward("text", arch, weights, fullTuningTrains, {}), HUGE)
      .minimumBudgetBytes,
  );
  const prompt = buildPrompt(await loadBertTokenizer(VOCAB), ["red circle", "square"], {
    maxLength: arch.maxQueryLength,
  });
  const views = [{
    image: { data: randomData(3 * 96 * 128, 1), height: 96, width: 128 },
    boxes: [{ box: [10, 12, 60, 70] as [number, number, number, number], tokens: [1, 2] }],
  }];
  const run = async (memoryBudgetBytes: number) => {
    const step = await FullModelStep.create(
      arch,
      { text: weights, image: weights, head: weights },
      fullTuningTrains,
      () => ({ lr: 0, weightDecay: 0 }),
      LEVELS,
      onnxRuntime(),
      { memoryBudgetBytes },
    );
    try {
      const out = await step.run(views, prompt.encoding.inputIds, prompt.encoding.attentionMask);
      return { ...out, memory: step.memory };
    } finally {
      await step.release();
    }
  };
  const plain = await run(HUGE);
  const recomputed = await run(budget);
  assert(plain.memory.plans.every((p) => p.segments === 1), JSON.stringify(plain.memory.plans));
  const segmented = recomputed.memory.plans.filter((p) => p.segments > 1).map((p) => p.graph);
  assertEquals(segmented, ["head step 12x16,6x8,3x4,2x2,1x1"]);
  assert(Math.abs(recomputed.loss - plain.loss) <= 1e-6 * Math.abs(plain.loss));
  for (const [name, expected] of plain.gradients) {
    const actual = recomputed.gradients.get(name)!;
    let diff = 0, scale = 0;
    for (let k = 0; k < expected.length; k++) {
      diff = Math.max(diff, Math.abs(actual[k] - expected[k]));
      scale = Math.max(scale, Math.abs(expected[k]));
    }
    // float32 rounding, with an absolute floor for gradients that are zero in exact arithmetic
    // (BERT's key biases: softmax ignores a shift shared by all keys)
    assert(diff <= 1e-5 * scale + 1e-5, `${name}: differs by ${diff} at scale ${scale}`);
  }
});
