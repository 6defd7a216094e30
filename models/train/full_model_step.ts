/**
 * One full-model training step over a batch (GLIP's `full` tuning): per image, the text and
 * image forward graphs, the head's train step (loss, head gradients, and the gradients of its
 * FPN and text inputs), then the image graph's vector-Jacobian run; the text graph's runs once
 * per batch with the summed text gradient (it is shared by every image of the batch). All
 * graphs take the current weights as inputs (models/train/backbone_graphs.ts); the result is the
 * batch loss and the gradient of every trainable tensor.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import type { GlipArchitecture } from "../glip/config.ts";
import type { WeightSource } from "../glip/weights.ts";
import { buildTrainForward, type LevelSizes } from "./prompt_tuning_graph.ts";
import { forwardGraph, vjpForward } from "./backbone_graphs.ts";
import {
  checkMemoryBudget,
  defaultMemoryBudgetBytes,
  PlannedSteps,
  type TrainingMemory,
} from "./recompute.ts";
import { stepKey } from "./prompt_tuner.ts";
import type { TargetBox } from "./targets.ts";
import { batchNormalizers, imageStepTargets, lossFeeds } from "./step_inputs.ts";
import type { TrainableTensor } from "./optim.ts";
import {
  onnxRuntime,
  SessionCache,
  type TrainingRuntime,
  type TrainingSession,
} from "./runtime.ts";

/** One training image: the preprocessed tensor and its boxes in its pixels. */
export interface FullTrainingView {
  image: { data: Float32Array; height: number; width: number };
  boxes: TargetBox[];
}

type GraphName = "text" | "image" | "head";

const tensorOf = (values: Float32Array, shape: number[]) =>
  new ort.Tensor("float32", values, shape);

/** FPN level sizes of an input: stride 8 on the padded image, then halving (ceil) to P7. */
export function levelSizesOf(height: number, width: number): LevelSizes {
  let h = height / 8, w = width / 8;
  const levels: LevelSizes = [];
  for (let l = 0; l < 5; l++) {
    levels.push([h, w]);
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  }
  return levels;
}

/** Options of {@link FullModelStep.create}. */
export interface FullModelStepOptions {
  /**
   * Peak memory each train graph (the head step, the image and text vector-Jacobian graphs) may
   * use, in bytes; one that does not fit is recomputed by segments (models/train/recompute.ts).
   * @default {@link defaultMemoryBudgetBytes}
   */
  memoryBudgetBytes?: number;
  /** Hears of each graph recomputed by segments. */
  log?: (line: string) => void;
  /**
   * The largest level sizes training will use: a budget that cannot hold a train graph at these
   * sizes is refused before any graph is built ({@link FullModelStep.checkMemoryBudget}).
   */
  largestLevels?: LevelSizes;
}

const HEAD_INPUT_GRADIENTS = [...[3, 4, 5, 6, 7].map((l) => `fpn_p${l}`), "lang_hidden"];

/** The graphs of a full-model step and the trainable tensors they share. */
export class FullModelStep {
  /** Trainable tensors (text, then image, then head), with their optimiser settings. */
  readonly tensors: TrainableTensor[] = [];
  readonly shapes = new Map<string, number[]>();
  readonly #graphOf = new Map<string, GraphName>();
  /** The forward graphs (no gradient: nothing to recompute). */
  readonly #sessions: SessionCache;
  /** The graphs that differentiate, each planned within the memory budget. */
  readonly #steps: PlannedSteps;
  #textForward?: TrainingSession;
  #imageForward?: TrainingSession;

  private constructor(
    readonly arch: GlipArchitecture,
    readonly weights: { text: WeightSource; image: WeightSource; head: WeightSource },
    readonly select: (name: string) => boolean,
    readonly hyper: (name: string) => { lr: number; weightDecay: number },
    runtime: TrainingRuntime,
    readonly memoryBudgetBytes: number,
    log: (line: string) => void,
  ) {
    this.#sessions = new SessionCache(runtime);
    this.#steps = new PlannedSteps({ memoryBudgetBytes, runtime }, log);
  }

  /** Builds the forward graphs and the head step for `levels` (which fixes the head's tensors). */
  static async create(
    arch: GlipArchitecture,
    weights: { text: WeightSource; image: WeightSource; head: WeightSource },
    select: (name: string) => boolean,
    hyper: (name: string) => { lr: number; weightDecay: number },
    levels: LevelSizes,
    runtime: TrainingRuntime = onnxRuntime(),
    options: FullModelStepOptions = {},
  ): Promise<FullModelStep> {
    const step = new FullModelStep(
      arch,
      weights,
      select,
      hyper,
      runtime,
      options.memoryBudgetBytes ?? defaultMemoryBudgetBytes(),
      options.log ?? (() => {}),
    );
    if (options.largestLevels) step.checkMemoryBudget(options.largestLevels);
    const forward = (which: "text" | "image") => {
      const { graph, trainable } = forwardGraph(which, arch, weights[which], select);
      trainable.forEach((t) =>
        step.#add(which, t.value.name, t.value.shape as number[], t.initial)
      );
      return step.#sessions.get(which, () => graph.build().model);
    };
    step.#textForward = await forward("text");
    step.#imageForward = await forward("image");
    await step.#head(levels);
    return step;
  }

  #add(graph: GraphName, name: string, shape: number[], initial: Float32Array): void {
    if (this.shapes.has(name)) return;
    this.tensors.push({ name, values: initial.slice(), ...this.hyper(name) });
    this.shapes.set(name, shape);
    this.#graphOf.set(name, graph);
  }

  /**
   * Refuses a budget that cannot hold one of the train graphs at `levels` (an input of
   * 8 x the P3 size) with a {@link MemoryBudgetError} naming the graph; builds nothing.
   */
  checkMemoryBudget(levels: LevelSizes): void {
    const [height, width] = [levels[0][0] * 8, levels[0][1] * 8];
    checkMemoryBudget(
      `full-model tuning: ${stepKey("head step", levels)}`,
      this.#headForward(levels),
      this.memoryBudgetBytes,
    );
    checkMemoryBudget(
      `full-model tuning: image vector-Jacobian ${height}x${width}`,
      this.#vjpForward("image", height, width),
      this.memoryBudgetBytes,
    );
    checkMemoryBudget(
      "full-model tuning: text vector-Jacobian",
      this.#vjpForward("text"),
      this.memoryBudgetBytes,
    );
  }

  /** The budget and the plan of each train graph built so far. */
  get memory(): TrainingMemory {
    return { budgetBytes: this.memoryBudgetBytes, plans: this.#steps.plans };
  }

  #headForward(levels: LevelSizes) {
    return buildTrainForward(this.arch, this.weights.head, levels, {
      promptOffset: false,
      trainWeights: this.select,
      inputGradients: HEAD_INPUT_GRADIENTS,
    });
  }

  #vjpForward(which: "image" | "text", height = 0, width = 0) {
    const dims: Record<string, number[]> = which === "image"
      ? { image: [1, 3, height, width] }
      : {};
    return vjpForward(which, this.arch, this.weights[which], this.select, dims);
  }

  #head(levels: LevelSizes): Promise<TrainingSession> {
    return this.#steps.get(stepKey("head step", levels), () => {
      const forward = this.#headForward(levels);
      forward.trainable.forEach((t) =>
        this.#add("head", t.value.name, t.value.shape as number[], t.initial)
      );
      return forward;
    });
  }

  #weightFeeds(graph: GraphName): Record<string, ort.Tensor> {
    return Object.fromEntries(
      this.tensors.filter((t) => this.#graphOf.get(t.name) === graph)
        .map((t) => [t.name, tensorOf(t.values, this.shapes.get(t.name)!)]),
    );
  }

  /** Loss and gradients of a batch with the tensors' current values. */
  async run(
    views: FullTrainingView[],
    inputIds: Int32Array,
    attentionMask: Int32Array,
  ): Promise<{ loss: number; gradients: Map<string, Float32Array> }> {
    const T = this.arch.maxQueryLength;
    const D = this.arch.bert.hiddenSize;
    const ids = new ort.Tensor("int64", BigInt64Array.from(inputIds, (v) => BigInt(v)), [1, T]);
    const mask = new ort.Tensor(
      "int64",
      BigInt64Array.from(attentionMask, (v) => BigInt(v)),
      [1, T],
    );
    const text = await this.#textForward!.run({
      input_ids: ids,
      attention_mask: mask,
      ...this.#weightFeeds("text"),
    });
    const hidden = text.lang_hidden as ort.Tensor;
    const items = [];
    for (const view of views) {
      const image = tensorOf(view.image.data, [1, 3, view.image.height, view.image.width]);
      const features = await this.#imageForward!.run({ image, ...this.#weightFeeds("image") });
      const levels = levelSizesOf(view.image.height, view.image.width);
      items.push({ view, image, features, step: imageStepTargets(this.arch, levels, view.boxes) });
    }
    const normalizers = batchNormalizers(items.map((i) => i.step.targets));
    const gradients = new Map(this.tensors.map((t) => [t.name, new Float32Array(t.values.length)]));
    const accumulate = (out: Record<string, ort.OnnxValue>) => {
      for (const [name, value] of Object.entries(out)) {
        const sum = name.startsWith("grad/") ? gradients.get(name.slice(5)) : undefined;
        if (!sum) continue; // input gradients
        const g = (value as ort.Tensor).data as Float32Array;
        for (let k = 0; k < g.length; k++) sum[k] += g[k];
      }
    };
    let loss = 0;
    const textUpstream = new Float32Array(hidden.data.length);
    const zeroOffset = tensorOf(new Float32Array(T * D), [1, T, D]);
    for (const item of items) {
      const head = await this.#head(item.step.levels);
      const feeds: Record<string, ort.Tensor> = {
        lang_hidden: hidden,
        attention_mask: mask,
        prompt_offset: zeroOffset,
        ...lossFeeds(item.step, normalizers),
        ...this.#weightFeeds("head"),
      };
      for (let l = 3; l <= 7; l++) feeds[`fpn_p${l}`] = item.features[`fpn_p${l}`] as ort.Tensor;
      const out = await head.run(feeds);
      loss += Number((out.loss as ort.Tensor).data[0]);
      accumulate(out);
      const { height, width } = item.view.image;
      const imageVjp = await this.#steps.get(
        `image vector-Jacobian ${height}x${width}`,
        () => this.#vjpForward("image", height, width),
      );
      accumulate(
        await imageVjp.run({
          image: item.image,
          ...this.#weightFeeds("image"),
          ...Object.fromEntries(
            [3, 4, 5, 6, 7].map((l) => [`upstream/fpn_p${l}`, out[`grad/fpn_p${l}`] as ort.Tensor]),
          ),
        }),
      );
      const hiddenGrad = (out["grad/lang_hidden"] as ort.Tensor).data as Float32Array;
      for (let k = 0; k < hiddenGrad.length; k++) textUpstream[k] += hiddenGrad[k];
    }
    const textVjp = await this.#steps.get("text vector-Jacobian", () => this.#vjpForward("text"));
    accumulate(
      await textVjp.run({
        input_ids: ids,
        attention_mask: mask,
        ...this.#weightFeeds("text"),
        "upstream/lang_hidden": tensorOf(textUpstream, hidden.dims as number[]),
      }),
    );
    return { loss, gradients };
  }

  /** Releases every graph's session. */
  async release(): Promise<void> {
    await this.#steps.release();
    await this.#sessions.release();
  }
}
