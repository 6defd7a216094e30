/**
 * GLIP's prompt tuning (`TUNING_HIGHLEVEL_OVERRIDE language_prompt_v2`) on onnxruntime-node:
 * only the prompt offset trains; the image backbone and text encoder run once per (image, scale,
 * flip) and per prompt, and each step runs the train-step graph
 * (models/train/prompt_tuning_graph.ts) per image of the batch, adding the gradients.
 *
 * The schedule is GLIP's fine-tuning loop (`engine/trainer.py`): the k-shot images repeated
 * `copies` times form one epoch, shuffled and cut into batches of 4 (the last may be smaller); per image a short side drawn from the multi-scale list and a horizontal
 * flip with probability 0.5; full-model L2 gradient clipping at 1.0; AdamW; after each epoch the
 * val AP drives the plateau schedule and early stopping, and the best offset is kept.
 *
 * Every random choice comes from the seed and the epoch, and the state after each epoch is
 * saved, so an interrupted run resumes and ends with the same offset.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import type { GlipArchitecture } from "../glip/config.ts";
import type { WeightSource } from "../glip/weights.ts";
import { SeededRandom } from "../glip/weights.ts";
import { buildTrainForward, type LevelSizes } from "./prompt_tuning_graph.ts";
import type { TrainingRuntime } from "./runtime.ts";
import {
  checkMemoryBudget,
  defaultMemoryBudgetBytes,
  PlannedSteps,
  type TrainingMemory,
} from "./recompute.ts";
import type { TargetBox } from "./targets.ts";
import { batchNormalizers, imageStepTargets, lossFeeds } from "./step_inputs.ts";
import { AdamW, clipGradNorm, ValSelection } from "./optim.ts";
import { StateStore } from "./state_store.ts";

/** GLIP's prompt-tuning hyper-parameters (README "Prompt Tuning" + the fine-tuning command). */
export interface PromptTuningSettings {
  lr: number;
  weightDecay: number;
  batchSize: number;
  maxEpochs: number;
  /** Passes over the k-shot images per epoch (GLIP's `GENERAL_COPY`). */
  copies: number;
  clipNorm: number;
  /** Plateau patience (`STEP_PATIENCE`) and early-stopping patience (`AUTO_TERMINATE_PATIENCE`). */
  stepPatience: number;
  stopPatience: number;
  minLr: number;
  /** Short sides drawn per image (`AUGMENT.MULT_MIN_SIZE_TRAIN`). */
  trainSizes: number[];
  maxSize: number;
  flipProbability: number;
}

/** GLIP's `{shot}_{epoch}_{copy}` table: 1 -> 8 copies, 3 -> 4, 5 -> 2, 10 and all -> 1. */
export function glipCopies(shots: number | "all"): number {
  return ({ 1: 8, 3: 4, 5: 2 } as Record<string, number>)[String(shots)] ?? 1;
}

/** GLIP's settings for a shot count; `testMinSize` scales the multi-scale list (800 in GLIP). */
export function glipPromptTuningSettings(
  shots: number | "all",
  testMinSize = 800,
  testMaxSize = 1333,
): PromptTuningSettings {
  const full = shots === "all";
  return {
    lr: 0.05,
    weightDecay: 0.25,
    batchSize: 4,
    maxEpochs: 200,
    copies: glipCopies(shots),
    clipNorm: 1.0,
    stepPatience: full ? 2 : 3,
    stopPatience: full ? 4 : 8,
    minLr: 1e-6,
    trainSizes: [480, 560, 640, 720, 800].map((s) => Math.round(s * testMinSize / 800)),
    maxSize: testMaxSize,
    flipProbability: 0.5,
  };
}

/** FPN features of one training view (image at one scale and flip). */
export interface TrainingView {
  /** P3..P7 as [C, H, W] data with their sizes. */
  levels: { data: Float32Array; height: number; width: number }[];
  /** Ground truth in the view's resized (and flipped) pixels. */
  boxes: TargetBox[];
}

/** What the tuner needs from its caller. */
export interface PromptTuningProblem {
  arch: GlipArchitecture;
  /** The head's weights (a bundle's, see models/glip/bundle_weights.ts). */
  weights: WeightSource;
  /** Text features of the task prompt [T * D] and its attention mask [T]. */
  langHidden: Float32Array;
  attentionMask: Int32Array;
  /** Number of training images. */
  imageCount: number;
  /** Features and boxes of image `index` at short side `size`, flipped or not. */
  view(index: number, size: number, flip: boolean): Promise<TrainingView>;
  /** The val AP (0..1) with a prompt offset [T * D]. */
  evaluate(offset: Float32Array): Promise<number>;
  /**
   * A folder for the state after each epoch (resume), or none. Written crash-safe: see
   * models/train/state_store.ts.
   */
  stateDir?: string;
  /** Called after each state file is written (tests simulate a crash here). */
  afterStateWrite?: (what: string) => void | Promise<void>;
  /** Where the step graphs run (default: onnxruntime-node on the CPU). */
  runtime?: TrainingRuntime;
  /**
   * Peak memory a train step may use, in bytes: a step that does not fit is recomputed by
   * segments (models/train/recompute.ts); a budget below what one layer needs at the largest
   * training size is refused before training. @default {@link defaultMemoryBudgetBytes}
   */
  memoryBudgetBytes?: number;
  log?: (line: string) => void;
}

/** One epoch's record. */
export interface EpochRecord {
  epoch: number;
  steps: number;
  meanLoss: number;
  valAp: number;
  lr: number;
  seconds: number;
}

/** The outcome of tuning. */
export interface PromptTuningResult {
  /** The best-on-val offset [T * D]. */
  offset: Float32Array;
  bestValAp: number;
  bestEpoch: number;
  /** The val AP with the zero offset (the zero-shot model), measured before training. */
  zeroShotValAp: number;
  epochs: EpochRecord[];
  stoppedEarly: boolean;
  /** The memory budget and the plan of each step graph this run built. */
  memory: TrainingMemory;
}

/**
 * FPN level sizes of the largest input a schedule can make: the largest short side by the
 * longest side, each padded to GLIP's size divisibility (32). Every training view fits in it, so
 * a budget that holds a step at these sizes holds every step.
 */
export function largestTrainingLevels(settings: PromptTuningSettings): LevelSizes {
  const pad = (n: number) => Math.ceil(n / 32) * 32;
  const short = Math.max(...settings.trainSizes);
  const [h, w] = [pad(Math.min(short, settings.maxSize)), pad(settings.maxSize)];
  const levels: LevelSizes = [];
  let [lh, lw] = [h / 8, w / 8];
  for (let l = 0; l < 5; l++) {
    levels.push([lh, lw]);
    [lh, lw] = [Math.ceil(lh / 2), Math.ceil(lw / 2)];
  }
  return levels;
}

/** The key of a step graph: `what` and its level sizes (`head 100x168,50x84,...`). */
export function stepKey(what: string, levels: LevelSizes): string {
  return `${what} ${levels.map(([h, w]) => `${h}x${w}`).join(",")}`;
}

interface SavedState {
  epoch: number;
  offset: number[];
  best: { offset: number[]; ap: number; epoch: number };
  zeroShotValAp: number;
  optimizer: ReturnType<AdamW["state"]>;
  lr: number;
  plateau: { best: number; badEpochs: number };
  stopping: { best: number; counter: number };
  epochs: EpochRecord[];
}

/**
 * One epoch's samples: the k-shot images repeated `copies` times (GLIP's DupDataset), shuffled as
 * a whole, each with its short side and flip; all from (seed, epoch).
 */
export function epochPlan(
  seed: number,
  epoch: number,
  count: number,
  settings: PromptTuningSettings,
): { index: number; size: number; flip: boolean }[] {
  const random = new SeededRandom((seed * 1000003 + epoch * 7919) >>> 0);
  const order = Array.from({ length: count * settings.copies }, (_, i) => i % count);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.map((index) => ({
    index,
    size: settings.trainSizes[Math.floor(random.uniform() * settings.trainSizes.length)],
    flip: random.uniform() < settings.flipProbability,
  }));
}

/** Runs GLIP's prompt tuning; `seed` fixes every random choice. */
export async function tunePrompt(
  problem: PromptTuningProblem,
  settings: PromptTuningSettings,
  seed: number,
): Promise<PromptTuningResult> {
  const { arch } = problem;
  const T = arch.maxQueryLength;
  const D = arch.bert.hiddenSize;
  const C = arch.fpnChannels;
  const log = problem.log ?? (() => {});
  // a budget that cannot hold the largest step fails here, before anything runs
  const budgetBytes = problem.memoryBudgetBytes ?? defaultMemoryBudgetBytes();
  const largest = largestTrainingLevels(settings);
  checkMemoryBudget(
    `prompt tuning at the largest training size (${stepKey("P3..P7", largest)})`,
    buildTrainForward(arch, problem.weights, largest),
    budgetBytes,
  );
  const offset = new Float32Array(T * D);
  const tensor = {
    name: "prompt_offset",
    values: offset,
    lr: settings.lr,
    weightDecay: settings.weightDecay,
  };
  const optimizer = new AdamW([tensor]);
  const selection = new ValSelection([tensor], settings);
  let best = { offset: offset.slice(), ap: -1, epoch: 0 };
  let epochs: EpochRecord[] = [];
  let startEpoch = 1;
  let zeroShotValAp: number;
  const store = problem.stateDir
    ? new StateStore<SavedState>(problem.stateDir, { log, afterWrite: problem.afterStateWrite })
    : undefined;
  const saved = (await store?.latest())?.state;
  if (saved) {
    offset.set(saved.offset);
    best = {
      offset: Float32Array.from(saved.best.offset),
      ap: saved.best.ap,
      epoch: saved.best.epoch,
    };
    optimizer.restore(saved.optimizer);
    tensor.lr = saved.lr;
    selection.restore(saved);
    epochs = saved.epochs;
    startEpoch = saved.epoch + 1;
    zeroShotValAp = saved.zeroShotValAp;
    log(`resuming after epoch ${saved.epoch}`);
  } else {
    zeroShotValAp = await problem.evaluate(offset);
    log(`zero-shot val AP ${zeroShotValAp.toFixed(4)}`);
  }
  const sessions = new PlannedSteps(
    { memoryBudgetBytes: budgetBytes, runtime: problem.runtime },
    log,
  );
  const mask = BigInt64Array.from(problem.attentionMask, (v) => BigInt(v));
  const langHidden = new ort.Tensor("float32", problem.langHidden, [1, T, D]);
  const maskTensor = new ort.Tensor("int64", mask, [1, T]);
  const samplesPerEpoch = problem.imageCount * settings.copies;
  let stoppedEarly = selection.stopped;
  try {
    for (let epoch = startEpoch; epoch <= settings.maxEpochs && !stoppedEarly; epoch++) {
      const started = performance.now();
      const plan = epochPlan(seed, epoch, problem.imageCount, settings);
      const batches: (typeof plan)[] = [];
      for (let i = 0; i < plan.length; i += settings.batchSize) {
        batches.push(plan.slice(i, i + settings.batchSize));
      }
      let lossSum = 0;
      for (const batch of batches) {
        const views = await Promise.all(batch.map((s) => problem.view(s.index, s.size, s.flip)));
        const prepared = views.map((view) => ({
          view,
          step: imageStepTargets(arch, view.levels.map((l) => [l.height, l.width]), view.boxes),
        }));
        const normalizers = batchNormalizers(prepared.map((p) => p.step.targets));
        const gradient = new Float32Array(T * D);
        let batchLoss = 0;
        for (const { view, step } of prepared) {
          const session = await sessions.get(
            stepKey("prompt step", step.levels),
            () => buildTrainForward(arch, problem.weights, step.levels),
          );
          const feeds: Record<string, ort.Tensor> = {
            lang_hidden: langHidden,
            attention_mask: maskTensor,
            prompt_offset: new ort.Tensor("float32", offset, [1, T, D]),
            ...lossFeeds(step, normalizers),
          };
          view.levels.forEach((l, i) => {
            feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", l.data, [1, C, l.height, l.width]);
          });
          const out = await session.run(feeds, ["loss", "grad_prompt_offset"]);
          const loss = Number(out.loss.data[0]);
          // GLIP zeroes a NaN loss (`losses[losses != losses] = 0`); a NaN here is a bug: fail
          if (!Number.isFinite(loss)) {
            throw new Error(`prompt tuning: the loss is ${loss} at epoch ${epoch}`);
          }
          batchLoss += loss;
          const grad = out.grad_prompt_offset.data as Float32Array;
          for (let k = 0; k < grad.length; k++) gradient[k] += grad[k];
        }
        clipGradNorm([gradient], settings.clipNorm);
        optimizer.step(new Map([["prompt_offset", gradient]]));
        lossSum += batchLoss;
      }
      const valAp = await problem.evaluate(offset);
      const decision = selection.step(valAp);
      if (decision.improved) best = { offset: offset.slice(), ap: valAp, epoch };
      stoppedEarly = decision.stop;
      const record: EpochRecord = {
        epoch,
        steps: batches.length,
        meanLoss: lossSum / batches.length,
        valAp,
        lr: tensor.lr,
        seconds: (performance.now() - started) / 1000,
      };
      epochs.push(record);
      log(
        `epoch ${epoch}: ${record.steps} steps (${samplesPerEpoch} images), loss ${
          record.meanLoss.toFixed(4)
        }, val AP ${valAp.toFixed(4)}, lr ${tensor.lr.toPrecision(3)}${
          decision.improved ? " (best)" : ""
        }`,
      );
      if (store) {
        // one state file holds everything (offset, best, optimizer): no other file to name
        await store.commit(epoch, [], {
          epoch,
          offset: Array.from(offset),
          best: { offset: Array.from(best.offset), ap: best.ap, epoch: best.epoch },
          zeroShotValAp,
          optimizer: optimizer.state(),
          lr: tensor.lr,
          ...selection.state(),
          epochs,
        });
      }
    }
  } finally {
    await sessions.release();
  }
  return {
    offset: best.offset,
    bestValAp: best.ap,
    bestEpoch: best.epoch,
    zeroShotValAp,
    epochs,
    stoppedEarly,
    memory: { budgetBytes, plans: sessions.plans },
  };
}
