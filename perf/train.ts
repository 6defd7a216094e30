/**
 * `deno task perf:train [--config nano|glip-t] [--height H --width W] [--steps N] [--recompute
 * [--train-memory GB]] [--full [--train-memory GB]] [--demo-epoch [--images N]]`: the
 * prompt-tuning train step (fusion + head + GLIP's loss + backward to the prompt offset, one
 * image) on onnxruntime-node CPU: graph build and session creation time, seconds per step
 * (warm-up excluded) and peak memory (peak RSS of the process), with seeded random weights of
 * the chosen architecture. `--recompute` runs the step by recomputed segments
 * (models/train/recompute.ts) planned for `--train-memory` GB (default 80% of the available
 * memory) and prints the segments and the planned peak. `--full` measures a full-model step
 * instead (text + image + head forward, head step, backbone vector-Jacobian graphs; one image),
 * each train graph planned for `--train-memory`. `--demo-epoch` runs one epoch of GLIP's prompt
 * tuning (models/train/prompt_tuner.ts) on `--images` demo images at GLIP's multi-scale sizes,
 * backbones included.
 *
 * Without --config it runs, each in its own process (so each peak is its own): nano at the
 * demo's size; GLIP-T at 320x480 with and without recomputation (the time ratio at a size where
 * both fit); GLIP-T's prompt step at GLIP's largest training size 800x1333 recomputed within
 * 16 GB; the nano and GLIP-T full-model steps (GLIP-T at 800x1333 within 24 GB); the GLIP-T
 * one-epoch prompt-tuning demo; then a summary against the targets of issue #20.
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
import type { PlanRecord, SegmentPlan } from "../models/train/recompute.ts";
import { onnxRuntime } from "../models/train/runtime.ts";
import { glipPromptTuningSettings, tunePrompt } from "../models/train/prompt_tuner.ts";
import type { TargetBox } from "../models/train/targets.ts";
import { buildImageGraph, buildTextGraph } from "../models/glip/graphs.ts";
import { preprocessImage } from "../models/image/preprocess.ts";
import { demoRandom, renderImage } from "../datasets/demo/generate.ts";
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
    "demo-epoch": { type: "boolean" },
    images: { type: "string" },
  },
  strict: true,
});

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** What a measurement reports to the parent run, as one `RESULT {json}` line on stdout. */
interface Measured {
  what: "prompt-step" | "full-step" | "demo-epoch";
  config: string;
  height: number;
  width: number;
  recomputed: boolean;
  secondsPerStep: number;
  peakRssBytes: number;
  budgetBytes?: number;
  plans?: PlanRecord[];
  /** demo-epoch: the epoch's seconds and how many images it trained on. */
  epochSeconds?: number;
  samples?: number;
}

function report(result: Measured): void {
  console.log(`RESULT ${JSON.stringify(result)}`);
}

/** One line per planned graph: segments and planned peak. */
function printPlans(plans: PlanRecord[]): void {
  for (const plan of plans) {
    console.log(
      `  ${plan.graph}: ${
        plan.segments === 1 ? "one graph" : `${plan.segments} segments`
      }, planned peak ${gib(plan.plannedPeakBytes)}`,
    );
  }
}

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
  report({
    what: "prompt-step",
    config,
    height,
    width,
    recomputed: plan !== null,
    secondsPerStep: mean,
    peakRssBytes: peakRssBytes(),
    ...(plan
      ? {
        budgetBytes: plan.budgetBytes,
        plans: [{
          graph: "prompt step",
          segments: plan.segments.length,
          plannedPeakBytes: plan.estimatedPeakBytes,
        }],
      }
      : {}),
  });
}

/** A full-model step (GLIP's `full` tuning) on one image, each train graph planned for the budget. */
async function measureFull(
  config: string,
  height: number,
  width: number,
  steps: number,
  memoryBudgetBytes: number | undefined,
) {
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
    onnxRuntime(),
    { memoryBudgetBytes, log: (line) => console.log(`  ${line}`) },
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
      `peak memory ${gib(peakRssBytes())} (budget per train graph ${gib(step.memory.budgetBytes)})`,
  );
  printPlans(step.memory.plans);
  report({
    what: "full-step",
    config,
    height,
    width,
    recomputed: step.memory.plans.some((p) => p.segments > 1),
    secondsPerStep: mean,
    peakRssBytes: peakRssBytes(),
    budgetBytes: step.memory.budgetBytes,
    plans: step.memory.plans,
  });
}

const DEMO_CATEGORIES = ["circle", "square", "triangle"];

/**
 * One epoch of GLIP's prompt tuning of a `config`-shaped model (seeded random weights) on
 * `count` demo images at GLIP's multi-scale sizes (short side 480..800, long side up to 1333,
 * flips): the text and image backbones run per prompt and per view as the native trainer runs
 * them, then the train steps within the budget. The val AP is not measured (random weights have
 * none worth selecting on): model selection sees 0 after the epoch.
 */
async function measureDemoEpoch(
  config: string,
  count: number,
  memoryBudgetBytes: number | undefined,
) {
  const arch = presetArchitecture(config);
  const weights = new RandomWeights(0);
  const T = arch.maxQueryLength;
  const started = performance.now();
  const random = demoRandom(20);
  const images = Array.from(
    { length: count },
    () => renderImage(random, { by: "shape", categories: DEMO_CATEGORIES }),
  );
  const tokenizer = await loadBertTokenizer(
    new URL("../models/text/bert-base-uncased-vocab.txt", import.meta.url).pathname,
  );
  const prompt = buildPrompt(tokenizer, DEMO_CATEGORIES, { maxLength: T });
  const text = await ort.InferenceSession.create(buildTextGraph(arch, weights).build().model);
  const toInt64 = (values: Int32Array) => BigInt64Array.from(values, (v) => BigInt(v));
  const langHidden = (await text.run({
    input_ids: new ort.Tensor("int64", toInt64(prompt.encoding.inputIds), [1, T]),
    attention_mask: new ort.Tensor("int64", toInt64(prompt.encoding.attentionMask), [1, T]),
  })).lang_hidden.data as Float32Array;
  await text.release();
  const imageSession = await ort.InferenceSession.create(
    buildImageGraph(arch, weights).build().model,
  );
  const settings = { ...glipPromptTuningSettings(1, 800, 1333), maxEpochs: 1, copies: 1 };
  let backboneSeconds = 0;
  const view = async (index: number, size: number, flip: boolean) => {
    const { rgb, objects } = images[index];
    const [width, height] = [224, 160];
    const pre = preprocessImage(
      { width, height, rgb },
      { ...arch.preprocess, minSize: size, maxSize: settings.maxSize },
      { flipHorizontal: flip },
    );
    const { input, resizedSize } = pre;
    const sx = resizedSize.width / width, sy = resizedSize.height / height;
    const boxes: TargetBox[] = objects.map((o) => {
      const [x, y, w, h] = o.box;
      const [x1, x2] = [x * sx, (x + w - 1) * sx];
      return {
        // GLIP's horizontal flip of a box (BoxList.transpose, TO_REMOVE = 1)
        box: flip
          ? [resizedSize.width - x2 - 1, y * sy, resizedSize.width - x1 - 1, (y + h - 1) * sy]
          : [x1, y * sy, x2, (y + h - 1) * sy],
        tokens: prompt.positiveMapLabelToToken.get(o.category)!,
      };
    });
    const t = performance.now();
    const out = await imageSession.run({
      image: new ort.Tensor("float32", input.data, [1, 3, input.height, input.width]),
    });
    backboneSeconds += (performance.now() - t) / 1000;
    const levels = [3, 4, 5, 6, 7].map((l) => {
      const f = out[`fpn_p${l}`];
      return { data: f.data as Float32Array, height: Number(f.dims[2]), width: Number(f.dims[3]) };
    });
    return { levels, boxes };
  };
  const result = await tunePrompt(
    {
      arch,
      weights,
      langHidden,
      attentionMask: prompt.encoding.attentionMask,
      imageCount: count,
      view,
      evaluate: () => Promise.resolve(0),
      memoryBudgetBytes,
      log: (line) => console.log(`  ${line}`),
    },
    settings,
    0,
  );
  await imageSession.release();
  const epoch = result.epochs[0];
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${config} prompt-tuning demo: one epoch on ${count} demo image(s) at short sides ${
      settings.trainSizes.join("/")
    } (max ${settings.maxSize}), ${epoch.steps} step(s): epoch ${epoch.seconds.toFixed(1)} s ` +
      `(of which backbones ${backboneSeconds.toFixed(1)} s), ${seconds.toFixed(1)} s with ` +
      `setup, peak memory ${gib(peakRssBytes())} (budget per step ${
        gib(result.memory.budgetBytes)
      }); val AP not measured (random weights)`,
  );
  printPlans(result.memory.plans);
  report({
    what: "demo-epoch",
    config,
    height: 800,
    width: settings.maxSize,
    recomputed: result.memory.plans.some((p) => p.segments > 1),
    secondsPerStep: epoch.seconds / epoch.steps,
    epochSeconds: epoch.seconds,
    samples: count * settings.copies,
    peakRssBytes: peakRssBytes(),
    budgetBytes: result.memory.budgetBytes,
    plans: result.memory.plans,
  });
}

const steps = Number(values.steps ?? 3);
if (values.config) {
  const [height, width] = [Number(values.height ?? 320), Number(values.width ?? 480)];
  const budget = budgetBytes(values["train-memory"]);
  if (values["demo-epoch"]) {
    await measureDemoEpoch(values.config, Number(values.images ?? 2), budget);
  } else if (values.full) await measureFull(values.config, height, width, steps, budget);
  else {
    const recompute = values.recompute ? { memoryBudgetBytes: budget } : null;
    await measure(values.config, height, width, steps, recompute);
  }
} else {
  // each in its own process, so each peak is its own
  const runs: [string, number, number, string[]][] = [
    ["nano", 160, 224, []],
    ["glip-t", 320, 480, []],
    // a budget below the one graph's 7.8 GiB, so the step is segmented: the time ratio to the
    // run above is recomputation's cost
    ["glip-t", 320, 480, ["--recompute", "--train-memory", "3"]],
    // GLIP's largest training size; the step must stay under 16 GB
    ["glip-t", 800, 1333, ["--recompute", "--train-memory", "16", "--steps", "1"]],
    ["nano", 160, 224, ["--full"]],
    // the full-model step at GLIP's largest size must stay under 24 GB: each train graph is
    // planned for 12 GB, which leaves room for the forward sessions and the features
    ["glip-t", 800, 1333, ["--full", "--train-memory", "12", "--steps", "1"]],
    ["glip-t", 800, 1333, ["--demo-epoch", "--images", "2", "--train-memory", "12"]],
  ];
  const results: Measured[] = [];
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
        ...(extra.includes("--steps") ? [] : ["--steps", String(steps)]),
        ...extra,
      ],
      stdout: "piped",
      stderr: "inherit",
    });
    const output = await child.output();
    for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
      if (line.startsWith("RESULT ")) results.push(JSON.parse(line.slice(7)));
      else if (line) console.log(line);
    }
    if (!output.success) Deno.exit(1);
  }
  summarize(results);
}

/** The figures of issue #20 against their targets. */
function summarize(results: Measured[]): void {
  const find = (what: Measured["what"], config: string, height: number, recomputed?: boolean) =>
    results.find((r) =>
      r.what === what && r.config === config && r.height === height &&
      (recomputed === undefined || r.recomputed === recomputed)
    );
  const verdict = (ok: boolean) => (ok ? "met" : "NOT MET");
  const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
  console.log(
    "\nsummary (issue #20 targets; peak memory = peak RSS of each measurement's process):",
  );
  const prompt = find("prompt-step", "glip-t", 800, true);
  if (prompt) {
    console.log(
      `  GLIP-T prompt step 800x1333: ${prompt.secondsPerStep.toFixed(1)} s/step, peak ${
        gb(prompt.peakRssBytes)
      }, ${prompt.plans![0].segments} segments, planned ${
        gb(prompt.plans![0].plannedPeakBytes)
      }; target < 16 GB: ${verdict(prompt.peakRssBytes < 16e9)}`,
    );
  }
  const [plain, segmented] = [
    find("prompt-step", "glip-t", 320, false),
    find("prompt-step", "glip-t", 320, true),
  ];
  if (plain && segmented) {
    const ratio = segmented.secondsPerStep / plain.secondsPerStep;
    console.log(
      `  recompute / no-recompute at 320x480 (${segmented.plans![0].segments} segments): ${
        ratio.toFixed(2)
      }x (${segmented.secondsPerStep.toFixed(2)} / ${plain.secondsPerStep.toFixed(2)} s), peaks ${
        gb(segmented.peakRssBytes)
      } / ${gb(plain.peakRssBytes)}; target <= 1.5x: ${verdict(ratio <= 1.5)}`,
    );
  }
  const full = find("full-step", "glip-t", 800);
  if (full) {
    console.log(
      `  GLIP-T full-model step 800x1333: ${full.secondsPerStep.toFixed(1)} s/step, peak ${
        gb(full.peakRssBytes)
      } (${
        full.plans!.map((p) => `${p.graph.split(" ")[0]} ${p.segments}`).join(", ")
      } segments); target < 24 GB: ${verdict(full.peakRssBytes < 24e9)}`,
    );
  }
  const demo = find("demo-epoch", "glip-t", 800);
  if (demo) {
    console.log(
      `  GLIP-T prompt-tuning demo: one epoch of ${demo.samples} image(s) in ${
        demo.epochSeconds!.toFixed(1)
      } s, peak ${gb(demo.peakRssBytes)}`,
    );
  }
}
