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
import { buildTrainStep, type LevelSizes } from "./prompt_tuning_graph.ts";
import { forwardGraph, vjpGraph } from "./backbone_graphs.ts";
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

/** The graphs of a full-model step and the trainable tensors they share. */
export class FullModelStep {
  /** Trainable tensors (text, then image, then head), with their optimiser settings. */
  readonly tensors: TrainableTensor[] = [];
  readonly shapes = new Map<string, number[]>();
  readonly #graphOf = new Map<string, GraphName>();
  readonly #sessions: SessionCache;
  #textForward?: TrainingSession;
  #imageForward?: TrainingSession;

  private constructor(
    readonly arch: GlipArchitecture,
    readonly weights: { text: WeightSource; image: WeightSource; head: WeightSource },
    readonly select: (name: string) => boolean,
    readonly hyper: (name: string) => { lr: number; weightDecay: number },
    runtime: TrainingRuntime,
  ) {
    this.#sessions = new SessionCache(runtime);
  }

  /** Builds the forward graphs and the head step for `levels` (which fixes the head's tensors). */
  static async create(
    arch: GlipArchitecture,
    weights: { text: WeightSource; image: WeightSource; head: WeightSource },
    select: (name: string) => boolean,
    hyper: (name: string) => { lr: number; weightDecay: number },
    levels: LevelSizes,
    runtime: TrainingRuntime = onnxRuntime(),
  ): Promise<FullModelStep> {
    const step = new FullModelStep(arch, weights, select, hyper, runtime);
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

  #head(levels: LevelSizes): Promise<TrainingSession> {
    return this.#sessions.get(`head:${levels.join(";")}`, () => {
      const step = buildTrainStep(this.arch, this.weights.head, levels, {
        promptOffset: false,
        trainWeights: this.select,
        inputGradients: [...[3, 4, 5, 6, 7].map((l) => `fpn_p${l}`), "lang_hidden"],
      });
      step.trainable.forEach((t) =>
        this.#add("head", t.value.name, t.value.shape as number[], t.initial)
      );
      return step.graph.build().model;
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
      const imageVjp = await this.#sessions.get(
        `image-vjp:${height}x${width}`,
        () =>
          vjpGraph("image", this.arch, this.weights.image, this.select, {
            image: [1, 3, height, width],
          }).graph.build().model,
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
    const textVjp = await this.#sessions.get(
      "text-vjp",
      () => vjpGraph("text", this.arch, this.weights.text, this.select, {}).graph.build().model,
    );
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

  release(): Promise<void> {
    return this.#sessions.release();
  }
}
