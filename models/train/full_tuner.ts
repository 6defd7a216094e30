/**
 * GLIP's full-model few-shot tuning (`TUNING_HIGHLEVEL_OVERRIDE full`, the README's ODinW
 * fine-tuning command) on onnxruntime-node. Per image of a batch:
 *
 *   text forward -> image forward -> head train step (loss, head gradients, and the gradients
 *   of its FPN and text inputs) -> image and text vector-Jacobian graphs (backbone gradients)
 *
 * all with the current weights as graph inputs (models/train/backbone_graphs.ts). Gradients add
 * over the batch; then GLIP's optimiser: AdamW with its parameter groups (base lr 1e-4, language
 * backbone 1e-5, biases x2 lr and no weight decay, weight decay 0.05 otherwise), full-model
 * clipping at 1.0, the plateau schedule and auto-termination on val AP, best-on-val weights kept.
 * Frozen as GLIP freezes them: Swin's patch embedding and first stage (`FREEZE_CONV_BODY_AT 2`).
 *
 * Deliberate differences, recorded by the caller: float32 where GLIP uses AMP; Swin's relative
 * position bias stays frozen (our graphs hold it expanded from its table, so training the
 * expansion would not be GLIP's parameterization); BERT's position and token-type embeddings
 * train only in the rows the graphs use (the others never receive a gradient anyway).
 *
 * @module
 */
import type { GlipArchitecture } from "../glip/config.ts";
import type { TrainingRuntime } from "./runtime.ts";
import type { WeightSource } from "../glip/weights.ts";
import { readFloatTensors, writeSafetensors } from "../checkpoint/mod.ts";
import { FullModelStep, type FullTrainingView, levelSizesOf } from "./full_model_step.ts";
import {
  epochPlan,
  type EpochRecord,
  largestTrainingLevels,
  type PromptTuningSettings,
} from "./prompt_tuner.ts";
import type { TrainingMemory } from "./recompute.ts";
import { AdamW, clipGradNorm, type TrainableTensor, ValSelection } from "./optim.ts";
import { StateStore } from "./state_store.ts";

export type { FullTrainingView };

/** GLIP's full-tuning hyper-parameters (shared schedule fields with prompt tuning). */
export interface FullTuningSettings extends PromptTuningSettings {
  /** Language-backbone learning rate (`SOLVER.LANG_LR`). */
  languageLr: number;
  /** `SOLVER.BIAS_LR_FACTOR` and `WEIGHT_DECAY_BIAS`. */
  biasLrFactor: number;
  biasWeightDecay: number;
}

/** GLIP's settings for full tuning at a shot count (README command + GLIP-T config). */
export function glipFullTuningSettings(
  base: PromptTuningSettings,
): FullTuningSettings {
  return {
    ...base,
    lr: 1e-4,
    weightDecay: 0.05,
    languageLr: 1e-5,
    biasLrFactor: 2,
    biasWeightDecay: 0,
  };
}

/** Whether GLIP trains a parameter in full tuning (`FREEZE_CONV_BODY_AT 2`, see module doc). */
export function fullTuningTrains(name: string): boolean {
  if (name.startsWith("backbone.body.patch_embed.")) return false;
  if (name.startsWith("backbone.body.layers.0.")) return false;
  if (name.endsWith(".relative_position_bias")) return false;
  return true;
}

/** What the full tuner needs from its caller. */
export interface FullTuningProblem {
  arch: GlipArchitecture;
  /** Weights of the three graphs (a bundle's, see models/glip/bundle_weights.ts). */
  weights: { text: WeightSource; image: WeightSource; head: WeightSource };
  inputIds: Int32Array;
  attentionMask: Int32Array;
  imageCount: number;
  view(index: number, size: number, flip: boolean): Promise<FullTrainingView>;
  /** The val AP with the given weights (by graph initializer name). */
  evaluate(weights: Map<string, Float32Array>): Promise<number>;
  /**
   * A folder for the state after each epoch (resume), or none. Written crash-safe: see
   * models/train/state_store.ts.
   */
  stateDir?: string;
  /** Called after each state file is written (tests simulate a crash here). */
  afterStateWrite?: (what: string) => void | Promise<void>;
  /** Where the training graphs run (default: onnxruntime-node on the CPU). */
  runtime?: TrainingRuntime;
  /**
   * Peak memory each train graph may use, in bytes: one that does not fit is recomputed by
   * segments (models/train/recompute.ts); a budget below what one layer needs at the largest
   * training size is refused before training. @default defaultMemoryBudgetBytes()
   */
  memoryBudgetBytes?: number;
  log?: (line: string) => void;
}

/** The outcome: the best-on-val weights of every trained tensor. */
export interface FullTuningResult {
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  bestValAp: number;
  bestEpoch: number;
  zeroShotValAp: number;
  epochs: EpochRecord[];
  stoppedEarly: boolean;
  /** The memory budget and the plan of each train graph this run built. */
  memory: TrainingMemory;
}

interface SavedState {
  epoch: number;
  steps: number;
  lrs: Record<string, number>;
  best: { ap: number; epoch: number };
  zeroShotValAp: number;
  plateau: { best: number; badEpochs: number };
  stopping: { best: number; counter: number };
  epochs: EpochRecord[];
}

/** Runs GLIP's full-model tuning; `seed` fixes every random choice. */
export async function tuneFullModel(
  problem: FullTuningProblem,
  settings: FullTuningSettings,
  seed: number,
): Promise<FullTuningResult> {
  const { arch } = problem;
  const log = problem.log ?? (() => {});
  const step = await FullModelStep.create(
    arch,
    problem.weights,
    fullTuningTrains,
    (name) => {
      const language = name.startsWith("language_backbone.");
      const bias = name.includes("bias");
      return {
        lr: (language ? settings.languageLr : settings.lr) * (bias ? settings.biasLrFactor : 1),
        weightDecay: bias ? settings.biasWeightDecay : settings.weightDecay,
      };
    },
    await (async () => {
      const { image } = await problem.view(0, settings.trainSizes.at(-1)!, false);
      return levelSizesOf(image.height, image.width);
    })(),
    problem.runtime,
    {
      memoryBudgetBytes: problem.memoryBudgetBytes,
      log,
      largestLevels: largestTrainingLevels(settings),
    },
  );
  const { tensors, shapes } = step;
  const current = () => new Map(tensors.map((t) => [t.name, t.values]));

  const optimizer = new AdamW(tensors);
  const selection = new ValSelection(tensors, settings);
  let best: { ap: number; epoch: number; weights: Map<string, Float32Array> } = {
    ap: -1,
    epoch: 0,
    weights: new Map(tensors.map((t) => [t.name, t.values.slice()])),
  };
  let epochs: EpochRecord[] = [];
  let startEpoch = 1;
  let zeroShotValAp: number;
  const store = problem.stateDir
    ? new StateStore<SavedState>(problem.stateDir, { log, afterWrite: problem.afterStateWrite })
    : undefined;
  const saved = await store?.latest();
  if (saved) {
    const stored = await readTensors(saved.file("weights.safetensors"));
    for (const t of tensors) t.values.set(stored.get(t.name)!);
    const bestStored = await readTensors(saved.file("best.safetensors"));
    best = { ap: saved.state.best.ap, epoch: saved.state.best.epoch, weights: bestStored };
    const m = await readTensors(saved.file("adam_m.safetensors"));
    const v = await readTensors(saved.file("adam_v.safetensors"));
    optimizer.restoreMoments(
      saved.state.steps,
      new Map([...m].map(([name, data]) => [name, { m: data, v: v.get(name)! }])),
    );
    for (const t of tensors) t.lr = saved.state.lrs[t.name];
    selection.restore(saved.state);
    epochs = saved.state.epochs;
    startEpoch = saved.state.epoch + 1;
    zeroShotValAp = saved.state.zeroShotValAp;
    log(`resuming after epoch ${saved.state.epoch}`);
  } else {
    zeroShotValAp = await problem.evaluate(current());
    log(`zero-shot val AP ${zeroShotValAp.toFixed(4)}`);
  }
  let stoppedEarly = selection.stopped;
  try {
    for (let epoch = startEpoch; epoch <= settings.maxEpochs && !stoppedEarly; epoch++) {
      const started = performance.now();
      const plan = epochPlan(seed, epoch, problem.imageCount, settings);
      let lossSum = 0;
      let steps = 0;
      for (let b = 0; b < plan.length; b += settings.batchSize) {
        const batch = plan.slice(b, b + settings.batchSize);
        const views = [];
        for (const sample of batch) {
          views.push(await problem.view(sample.index, sample.size, sample.flip));
        }
        const { loss: batchLoss, gradients } = await step.run(
          views,
          problem.inputIds,
          problem.attentionMask,
        );
        if (!Number.isFinite(batchLoss)) {
          throw new Error(`full tuning: the loss is ${batchLoss} at epoch ${epoch}`);
        }
        clipGradNorm([...gradients.values()], settings.clipNorm);
        optimizer.step(gradients);
        lossSum += batchLoss;
        steps++;
      }
      const valAp = await problem.evaluate(current());
      const decision = selection.step(valAp);
      if (decision.improved) {
        best = {
          ap: valAp,
          epoch,
          weights: new Map(tensors.map((t) => [t.name, t.values.slice()])),
        };
      }
      stoppedEarly = decision.stop;
      const record: EpochRecord = {
        epoch,
        steps,
        meanLoss: lossSum / steps,
        valAp,
        lr: tensors.find((t) =>
          !t.name.startsWith("language_backbone.") && !t.name.includes("bias")
        )?.lr ?? settings.lr,
        seconds: (performance.now() - started) / 1000,
      };
      epochs.push(record);
      log(
        `epoch ${epoch}: ${steps} steps, loss ${record.meanLoss.toFixed(4)}, val AP ${
          valAp.toFixed(4)
        }, lr ${record.lr.toPrecision(3)}${decision.improved ? " (best)" : ""}`,
      );
      if (store) {
        await commitState(store, tensors, shapes, best, optimizer, {
          epoch,
          steps: optimizer.steps,
          lrs: Object.fromEntries(tensors.map((t) => [t.name, t.lr])),
          best: { ap: best.ap, epoch: best.epoch },
          zeroShotValAp,
          ...selection.state(),
          epochs,
        });
      }
    }
  } finally {
    await step.release();
  }
  return {
    weights: new Map(
      [...best.weights].map(([name, data]) => [name, { shape: shapes.get(name)!, data }]),
    ),
    bestValAp: best.ap,
    bestEpoch: best.epoch,
    zeroShotValAp,
    epochs,
    stoppedEarly,
    memory: step.memory,
  };
}

/** The values of every tensor of a state file. */
export async function readTensors(path: string): Promise<Map<string, Float32Array>> {
  return new Map([...await readFloatTensors(path)].map(([name, t]) => [name, t.data]));
}

/**
 * Commits one epoch of a tuner that trains model tensors (full tuning, linear probing): current
 * weights, best weights, Adam moments, then the state naming them (crash-safe, see
 * models/train/state_store.ts).
 */
export async function commitState<State extends { epoch: number }>(
  store: StateStore<State>,
  tensors: TrainableTensor[],
  shapes: Map<string, number[]>,
  best: { weights: Map<string, Float32Array> },
  optimizer: AdamW,
  state: State,
): Promise<void> {
  const asTensors = (values: Map<string, Float32Array>) =>
    new Map([...values].map(([name, data]) => [name, { shape: shapes.get(name)!, data }]));
  const moments = optimizer.moments();
  const file = (name: string, values: Map<string, Float32Array>) => ({
    name,
    write: (path: string) => writeSafetensors(path, asTensors(values)),
  });
  await store.commit(state.epoch, [
    file("weights.safetensors", new Map(tensors.map((t) => [t.name, t.values]))),
    file("best.safetensors", best.weights),
    file("adam_m.safetensors", new Map([...moments].map(([n, s]) => [n, s.m]))),
    file("adam_v.safetensors", new Map([...moments].map(([n, s]) => [n, s.v]))),
  ], state);
}
