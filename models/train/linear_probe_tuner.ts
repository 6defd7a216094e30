/**
 * GLIP's linear probing (`TUNING_HIGHLEVEL_OVERRIDE linear_prob`, `tools/finetune.py`): the
 * image backbone, FPN and language backbone frozen (`BACKBONE.FREEZE`, `FPN.FREEZE`,
 * `LANGUAGE_BACKBONE.FREEZE`), and of the head (`rpn`) only the parameters whose names contain
 * `bbox_pred`, `cls_logits`, `centerness`, `cosine_scale`, `dot_product_projection_text`,
 * `head.log_scale`, `head.bias_lang` or `head.bias0` train (`MODEL.LINEAR_PROB`); the DyHead
 * tower with its fusion layers and the per-level box scales stay frozen. GLIP-T has no
 * `cls_logits` or `cosine_scale` (dot-product token loss), so what trains is the box and
 * centerness convolutions and the text projection with its biases and scale.
 *
 * As in prompt tuning, the frozen backbones run once per (image, scale, flip) and once per
 * prompt; each step runs the head's train step graph per image and adds the gradients. The
 * optimiser and schedule are the fine-tuning command's (GLIP changes only the frozen set):
 * AdamW lr 1e-4, biases x2 lr without weight decay, weight decay 0.05, full clipping at 1.0,
 * the plateau schedule and auto-termination on val AP, the best-on-val weights kept. The state
 * after each epoch is committed crash-safe, so an interrupted run resumes to the same weights.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import type { GlipArchitecture } from "../glip/config.ts";
import type { WeightSource } from "../glip/weights.ts";
import { buildTrainForward, type LevelSizes } from "./prompt_tuning_graph.ts";
import type { TrainingRuntime } from "./runtime.ts";
import {
  checkMemoryBudget,
  defaultMemoryBudgetBytes,
  PlannedSteps,
  type TrainingMemory,
} from "./recompute.ts";
import { batchNormalizers, imageStepTargets, lossFeeds } from "./step_inputs.ts";
import { AdamW, clipGradNorm, type TrainableTensor, ValSelection } from "./optim.ts";
import { StateStore } from "./state_store.ts";
import {
  epochPlan,
  type EpochRecord,
  largestTrainingLevels,
  stepKey,
  type TrainingView,
} from "./prompt_tuner.ts";
import { commitState, type FullTuningSettings, readTensors } from "./full_tuner.ts";

/** The substrings GLIP's `MODEL.LINEAR_PROB` keeps trainable in the head's parameter names. */
export const LINEAR_PROBE_KEYS: readonly string[] = [
  "bbox_pred",
  "cls_logits",
  "centerness",
  "cosine_scale",
  "dot_product_projection_text",
  "head.log_scale",
  "head.bias_lang",
  "head.bias0",
];

/**
 * Whether GLIP trains a parameter when linear probing: a head (`rpn.`) parameter whose name
 * contains one of {@link LINEAR_PROBE_KEYS}; everything else is frozen.
 */
export function linearProbeTrains(name: string): boolean {
  return name.startsWith("rpn.") && LINEAR_PROBE_KEYS.some((key) => name.includes(key));
}

/** What the linear-probe tuner needs from its caller. */
export interface LinearProbeProblem {
  arch: GlipArchitecture;
  /** The head's weights (a bundle's, see models/glip/bundle_weights.ts). */
  weights: WeightSource;
  /** Text features of the task prompt [T * D] (frozen language backbone) and its mask [T]. */
  langHidden: Float32Array;
  attentionMask: Int32Array;
  imageCount: number;
  /** FPN features (frozen backbone) and boxes of image `index` at short side `size`, flipped or not. */
  view(index: number, size: number, flip: boolean): Promise<TrainingView>;
  /** The val AP with the given head weights (by graph initializer name). */
  evaluate(weights: Map<string, Float32Array>): Promise<number>;
  /** A folder for the state after each epoch (resume), or none. */
  stateDir?: string;
  /** Called after each state file is written (tests simulate a crash here). */
  afterStateWrite?: (what: string) => void | Promise<void>;
  /** Where the step graphs run (default: onnxruntime-node on the CPU). */
  runtime?: TrainingRuntime;
  /**
   * Peak memory a train step may use, in bytes: a step that does not fit is recomputed by
   * segments (models/train/recompute.ts; only the prediction layers carry a gradient, so no
   * tower segment runs backward); a budget below what one layer needs at the largest training
   * size is refused before training. @default {@link defaultMemoryBudgetBytes}
   */
  memoryBudgetBytes?: number;
  log?: (line: string) => void;
}

/** The outcome: the best-on-val values of every probed tensor. */
export interface LinearProbeResult {
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  bestValAp: number;
  bestEpoch: number;
  zeroShotValAp: number;
  epochs: EpochRecord[];
  stoppedEarly: boolean;
  /** The memory budget and the plan of each step graph this run built. */
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

/** Runs GLIP's linear probing; `seed` fixes every random choice. */
export async function tuneLinearProbe(
  problem: LinearProbeProblem,
  settings: FullTuningSettings,
  seed: number,
): Promise<LinearProbeResult> {
  const { arch } = problem;
  const T = arch.maxQueryLength;
  const D = arch.bert.hiddenSize;
  const C = arch.fpnChannels;
  const log = problem.log ?? (() => {});
  const stepForward = (levels: LevelSizes) =>
    buildTrainForward(arch, problem.weights, levels, {
      promptOffset: false,
      trainWeights: linearProbeTrains,
    });
  // a budget that cannot hold the largest step fails here, before anything runs
  const budgetBytes = problem.memoryBudgetBytes ?? defaultMemoryBudgetBytes();
  const largest = largestTrainingLevels(settings);
  checkMemoryBudget(
    `linear probing at the largest training size (${stepKey("P3..P7", largest)})`,
    stepForward(largest),
    budgetBytes,
  );
  const sessions = new PlannedSteps(
    { memoryBudgetBytes: budgetBytes, runtime: problem.runtime },
    log,
  );
  // the probed tensors and their initial values, from one step graph
  const first = await problem.view(0, settings.trainSizes.at(-1)!, false);
  const { trainable } = stepForward(first.levels.map((l) => [l.height, l.width]));
  if (trainable.length === 0) {
    throw new Error("linear probing: the head has none of GLIP's linear-probe parameters");
  }
  const tensors: TrainableTensor[] = trainable.map(({ value, initial }) => {
    const bias = value.name.includes("bias");
    return {
      name: value.name,
      values: initial.slice(),
      lr: settings.lr * (bias ? settings.biasLrFactor : 1),
      weightDecay: bias ? settings.biasWeightDecay : settings.weightDecay,
    };
  });
  const shapes = new Map(trainable.map(({ value }) => [value.name, value.shape as number[]]));
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
    const bestStored = await readTensors(saved.file("best.safetensors"));
    const m = await readTensors(saved.file("adam_m.safetensors"));
    const v = await readTensors(saved.file("adam_v.safetensors"));
    for (const t of tensors) {
      const values = stored.get(t.name);
      if (!values || values.length !== t.values.length || !m.has(t.name) || !v.has(t.name)) {
        throw new Error(
          `linear probing: ${saved.file("weights.safetensors")} does not hold ${t.name} ` +
            `[${
              shapes.get(t.name)
            }] with its Adam moments; remove ${problem.stateDir} to start over`,
        );
      }
      t.values.set(values);
      t.lr = saved.state.lrs[t.name];
    }
    best = { ap: saved.state.best.ap, epoch: saved.state.best.epoch, weights: bestStored };
    optimizer.restoreMoments(
      saved.state.steps,
      new Map([...m].map(([name, data]) => [name, { m: data, v: v.get(name)! }])),
    );
    selection.restore(saved.state);
    epochs = saved.state.epochs;
    startEpoch = saved.state.epoch + 1;
    zeroShotValAp = saved.state.zeroShotValAp;
    log(`resuming after epoch ${saved.state.epoch}`);
  } else {
    zeroShotValAp = await problem.evaluate(current());
    log(`zero-shot val AP ${zeroShotValAp.toFixed(4)}`);
  }
  const langHidden = new ort.Tensor("float32", problem.langHidden, [1, T, D]);
  const mask = new ort.Tensor(
    "int64",
    BigInt64Array.from(problem.attentionMask, (v) => BigInt(v)),
    [1, T],
  );
  const zeroOffset = new ort.Tensor("float32", new Float32Array(T * D), [1, T, D]);
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
        for (const s of batch) views.push(await problem.view(s.index, s.size, s.flip));
        const items = views.map((view) => ({
          view,
          step: imageStepTargets(arch, view.levels.map((l) => [l.height, l.width]), view.boxes),
        }));
        const normalizers = batchNormalizers(items.map((i) => i.step.targets));
        const gradients = new Map(tensors.map((t) => [t.name, new Float32Array(t.values.length)]));
        const weightFeeds = Object.fromEntries(
          tensors.map((t) => [t.name, new ort.Tensor("float32", t.values, shapes.get(t.name)!)]),
        );
        let batchLoss = 0;
        for (const { view, step } of items) {
          const session = await sessions.get(
            stepKey("head step", step.levels),
            () => stepForward(step.levels),
          );
          const feeds: Record<string, ort.Tensor> = {
            lang_hidden: langHidden,
            attention_mask: mask,
            prompt_offset: zeroOffset,
            ...lossFeeds(step, normalizers),
            ...weightFeeds,
          };
          view.levels.forEach((l, i) => {
            feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", l.data, [1, C, l.height, l.width]);
          });
          const out = await session.run(feeds, ["loss", ...tensors.map((t) => `grad/${t.name}`)]);
          const loss = Number(out.loss.data[0]);
          if (!Number.isFinite(loss)) {
            throw new Error(`linear probing: the loss is ${loss} at epoch ${epoch}`);
          }
          batchLoss += loss;
          for (const t of tensors) {
            const g = out[`grad/${t.name}`].data as Float32Array;
            const sum = gradients.get(t.name)!;
            for (let k = 0; k < g.length; k++) sum[k] += g[k];
          }
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
        lr: tensors.find((t) => !t.name.includes("bias"))?.lr ?? settings.lr,
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
    await sessions.release();
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
    memory: { budgetBytes, plans: sessions.plans },
  };
}
