/**
 * `deno task perf:train [--config nano|glip-t] [--height H --width W] [--steps N] [--recompute
 * [--train-memory GB]]`: the prompt-tuning train step (fusion + head + GLIP's loss + backward
 * to the prompt offset, one image) on onnxruntime-node CPU: graph build and session creation
 * time, seconds per step (warm-up excluded) and peak memory, with seeded random weights of the
 * chosen architecture. `--recompute` runs the step by recomputed segments
 * (models/train/recompute.ts) planned for `--train-memory` GB (default 80% of the available
 * memory) and prints the segments and the planned peak. Without --config it measures nano at
 * the demo's size (160x224), GLIP-T at 320x480 with and without recomputation (the time ratio
 * at a size where both fit) and GLIP-T at GLIP's training size 800x1333 with recomputation.
 * `--full` measures a full-model step instead (text + image + head forward, head step,
 * backbone vector-Jacobian graphs; one image).
 * @module
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { presetArchitecture } from "../models/glip/config.ts";
import { RandomWeights } from "../models/glip/weights.ts";
import { levelAnchors } from "../models/post/anchors.ts";
import { buildPromptTuningStep, type LevelSizes } from "../models/train/prompt_tuning_graph.ts";
import { atssTargets, lossBoxTensors } from "../models/train/targets.ts";
import { peakRssBytes } from "../benchmarks/stage_timer.ts";
import { FullModelStep, levelSizesOf } from "../models/train/full_model_step.ts";
import { fullTuningTrains } from "../models/train/full_tuner.ts";
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import { buildPrompt } from "../models/text/prompt.ts";
import { promptTuningRecomputingStep } from "../models/train/prompt_tuning_graph.ts";
import type { TrainingSession } from "../models/train/runtime.ts";
import type { SegmentPlan } from "../models/train/recompute.ts";
import { UsageError } from "../core/errors.ts";
import { turnOffOnnxRuntimeTelemetry } from "../core/onnxruntime_telemetry.ts";

turnOffOnnxRuntimeTelemetry();

const { values } = parseArgs({
  options: {
    config: { type: "string" },
    height: { type: "string" },
    width: { type: "string" },
    steps: { type: "string" },
    full: { type: "boolean" },
    recompute: { type: "boolean" },
    "train-memory": { type: "string" },
  },
  strict: true,
});

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** `--train-memory GB` in bytes; undefined when not given. */
function budgetBytes(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const gb = Number(text);
  if (!(gb > 0)) {
    throw new UsageError(`--train-memory: expected a positive number of GB, got ${text}`);
  }
  return gb * 1e9;
}

async function measure(
  config: string,
  height: number,
  width: number,
  steps: number,
  recompute: { memoryBudgetBytes?: number } | null,
) {
  const arch = presetArchitecture(config);
  const T = arch.maxQueryLength, D = arch.bert.hiddenSize, C = arch.fpnChannels;
  const { anchorStrides, anchorSizes } = arch.postprocess;
  const padded = [Math.ceil(height / 32) * 32, Math.ceil(width / 32) * 32];
  const levels: LevelSizes = anchorStrides.map((s) => [
    Math.ceil(padded[0] / s),
    Math.ceil(padded[1] / s),
  ]);
  let started = performance.now();
  let session: TrainingSession;
  let plan: SegmentPlan | null = null;
  let setup: string;
  if (recompute) {
    const { step } = await promptTuningRecomputingStep(
      arch,
      new RandomWeights(0),
      levels,
      recompute,
    );
    session = step;
    plan = step.plan;
    setup = `graphs + sessions ${((performance.now() - started) / 1000).toFixed(1)} s`;
  } else {
    const model = buildPromptTuningStep(arch, new RandomWeights(0), levels).build().model;
    const buildSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const inference = await ort.InferenceSession.create(model);
    session = {
      run: (feeds, fetches) =>
        inference.run(feeds, fetches ?? inference.outputNames) as Promise<
          Record<string, ort.Tensor>
        >,
      release: () => inference.release(),
    };
    setup = `build ${buildSeconds.toFixed(1)} s, session ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`;
  }
  const anchors = levels.map(([h, w], i) => levelAnchors(h, w, anchorStrides[i], anchorSizes[i]));
  const targets = atssTargets(anchors, [
    { box: [0.1 * width, 0.2 * height, 0.45 * width, 0.7 * height], tokens: [1, 2] },
    { box: [0.5 * width, 0.3 * height, 0.9 * width, 0.9 * height], tokens: [4] },
  ], T);
  const boxes = lossBoxTensors(anchors, targets);
  const N = targets.anchorCount;
  const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const mask = new BigInt64Array(T).fill(1n, 0, 12);
  const feeds: Record<string, ort.Tensor> = {
    lang_hidden: new ort.Tensor("float32", random(T * D), [1, T, D]),
    attention_mask: new ort.Tensor("int64", mask, [1, T]),
    prompt_offset: new ort.Tensor("float32", new Float32Array(T * D), [1, T, D]),
    token_targets: new ort.Tensor("float32", targets.tokenTargets, [1, N, T]),
    anchor_geometry: new ort.Tensor("float32", boxes.anchorGeometry, [N, 4]),
    target_boxes: new ort.Tensor("float32", boxes.targetBoxes, [N, 4]),
    centerness_targets: new ort.Tensor("float32", targets.centernessTargets, [N]),
    positive: new ort.Tensor("float32", targets.positive, [N]),
    loss_normalizers: new ort.Tensor(
      "float32",
      Float32Array.of(
        1 / targets.positiveCount,
        2 / targets.centernessSum,
        1 / targets.positiveCount,
      ),
      [3],
    ),
  };
  levels.forEach(([h, w], i) => {
    feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", random(C * h * w), [1, C, h, w]);
  });
  await session.run(feeds); // warm-up
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await session.run(feeds, ["loss", "grad_prompt_offset"]);
    times.push((performance.now() - t) / 1000);
  }
  await session.release();
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const mode = plan
    ? `recomputed in ${plan.segments.length} segments (budget ${gib(plan.budgetBytes)}, ` +
      `planned peak ${gib(plan.estimatedPeakBytes)})`
    : "one graph, no recomputation";
  console.log(
    `${config} ${height}x${width} (padded ${padded.join("x")}, ${N} anchors), ${mode}: ` +
      `${setup}, ` +
      `${mean.toFixed(3)} s/step (mean of ${steps}; one image, forward + backward), ` +
      `GLIP batch of 4 by accumulation ${(4 * mean).toFixed(2)} s, peak memory ${
        gib(peakRssBytes())
      }`,
  );
  if (plan) {
    for (const [i, s] of plan.segments.entries()) {
      console.log(
        `  segment ${i}: ${s.label}, nodes ${s.start}-${s.end}, activations ${
          gib(s.activationBytes)
        }`,
      );
    }
  }
}

/** A full-model step (GLIP's `full` tuning) on one image. */
async function measureFull(config: string, height: number, width: number, steps: number) {
  const arch = presetArchitecture(config);
  const weights = new RandomWeights(0);
  const padded = [Math.ceil(height / 32) * 32, Math.ceil(width / 32) * 32];
  let started = performance.now();
  const step = await FullModelStep.create(
    arch,
    { text: weights, image: weights, head: weights },
    fullTuningTrains,
    () => ({ lr: 0, weightDecay: 0 }),
    levelSizesOf(padded[0], padded[1]),
  );
  const setupSeconds = (performance.now() - started) / 1000;
  const tokenizer = await loadBertTokenizer(
    new URL("../models/text/bert-base-uncased-vocab.txt", import.meta.url).pathname,
  );
  const prompt = buildPrompt(tokenizer, ["person", "bicycle", "car"], {
    maxLength: arch.maxQueryLength,
  });
  const image = {
    data: Float32Array.from({ length: 3 * padded[0] * padded[1] }, () => Math.random() * 2 - 1),
    height: padded[0],
    width: padded[1],
  };
  const views = [{
    image,
    boxes: [
      {
        box: [0.1 * width, 0.2 * height, 0.45 * width, 0.7 * height] as [
          number,
          number,
          number,
          number,
        ],
        tokens: prompt.positiveMapLabelToToken.get(1)!,
      },
    ],
  }];
  await step.run(views, prompt.encoding.inputIds, prompt.encoding.attentionMask); // warm-up
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    started = performance.now();
    await step.run(views, prompt.encoding.inputIds, prompt.encoding.attentionMask);
    times.push((performance.now() - started) / 1000);
  }
  await step.release();
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const parameters = step.tensors.reduce((s, t) => s + t.values.length, 0);
  console.log(
    `${config} full-model ${height}x${width} (${
      (parameters / 1e6).toFixed(1)
    } M trained parameters): ` +
      `graphs ${setupSeconds.toFixed(1)} s, ${
        mean.toFixed(3)
      } s/step (mean of ${steps}; one image), ` +
      `peak memory ${gib(peakRssBytes())}`,
  );
}

const steps = Number(values.steps ?? 3);
if (values.config) {
  const [height, width] = [Number(values.height ?? 320), Number(values.width ?? 480)];
  if (values.full) await measureFull(values.config, height, width, steps);
  else {
    const recompute = values.recompute
      ? { memoryBudgetBytes: budgetBytes(values["train-memory"]) }
      : null;
    await measure(values.config, height, width, steps, recompute);
  }
} else {
  // each in its own process, so each peak is its own
  const runs = [
    ["nano", 160, 224, []],
    ["glip-t", 320, 480, []],
    // a budget below the one graph's 7.8 GiB, so the step is segmented: the time ratio to the
    // run above is recomputation's cost
    ["glip-t", 320, 480, ["--recompute", "--train-memory", "3"]],
    // GLIP's largest training size; the step must stay under 16 GB
    ["glip-t", 800, 1333, ["--recompute", "--train-memory", "16", "--steps", "1"]],
    ["nano", 160, 224, ["--full"]],
  ] as const;
  for (const [config, height, width, extra] of runs) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        import.meta.filename!,
        "--config",
        config,
        "--height",
        String(height),
        "--width",
        String(width),
        ...((extra as readonly string[]).includes("--steps") ? [] : ["--steps", String(steps)]),
        ...extra,
      ],
      stdout: "inherit",
      stderr: "inherit",
    });
    const status = await child.output();
    if (!status.success) Deno.exit(1);
  }
}
