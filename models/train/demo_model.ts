/**
 * The trained demo model: the nano architecture whose fusion + head is trained on a grounding
 * corpus the project generates (images of coloured shapes; prompts naming objects by shape, by
 * colour, or by both, with absent names as negatives), on top of the seeded random image and
 * text backbones. The demo tasks' images are never part of the corpus (other seeds), so the
 * demo's zero-shot numbers are held-out numbers, and prompt tuning has something to improve.
 *
 * Training uses the same machinery as prompt tuning: ATSS targets in TypeScript, GLIP's loss and
 * a train-step graph whose head weights are inputs, differentiated by models/autodiff; AdamW with
 * gradient clipping, batches by gradient accumulation, a horizontal flip per image.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { presetArchitecture } from "../glip/config.ts";
import { buildImageGraph, buildTextGraph } from "../glip/graphs.ts";
import { RandomWeights, SeededRandom, type WeightSource } from "../glip/weights.ts";
import { preprocessImage } from "../image/preprocess.ts";
import { buildPrompt } from "../text/prompt.ts";
import type { BertTokenizer } from "../text/tokenizer.ts";
import { demoRandom, renderImage } from "../../datasets/demo/generate.ts";
import { buildTrainStep, type LevelSizes } from "./prompt_tuning_graph.ts";
import type { TargetBox } from "./targets.ts";
import { batchNormalizers, imageStepTargets, lossFeeds } from "./step_inputs.ts";
import { AdamW, clipGradNorm, type TrainableTensor } from "./optim.ts";
import { turnOffOnnxRuntimeTelemetry } from "../../core/onnxruntime_telemetry.ts";

turnOffOnnxRuntimeTelemetry();

/** The random weights' seed of the demo's backbones (the nano bundle's). */
export const DEMO_BACKBONE_SEED = 0;

const SHAPES = ["circle", "square", "triangle"];
const COLOURS = ["red", "green", "blue"];

/** One corpus image: pixels and objects (COCO xywh boxes). */
export interface CorpusImage {
  rgb: Uint8Array;
  width: number;
  height: number;
  objects: { shape: string; colour: string; box: [number, number, number, number] }[];
}

/** A prompt for one image: names in order, and which names each object answers to. */
export interface CorpusPrompt {
  names: string[];
  /** For each object, the indices of the names that refer to it. */
  objectNames: number[][];
}

/** Renders `count` corpus images from `seed` (never the demo tasks' seeds). */
export function groundingCorpus(count: number, seed: number): CorpusImage[] {
  const random = demoRandom(seed * 7919 + 424242);
  return Array.from({ length: count }, () => {
    const { rgb, objects } = renderImage(random);
    return { rgb, width: 224, height: 160, objects };
  });
}

function shuffled<T>(items: T[], random: SeededRandom): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random.uniform() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A random prompt for an image, in one of three styles: every shape name, every colour name
 * (alone or as "<colour> object"), or a phrase per object ("red circle") with up to two absent
 * combinations as distractors.
 */
export function corpusPrompt(
  image: CorpusImage,
  random: SeededRandom,
  heldOutShape?: string,
): CorpusPrompt {
  const style = Math.floor(random.uniform() * 3);
  const shapes = SHAPES.filter((s) => s !== heldOutShape);
  // objects of the held-out shape are never named by their shape: unnamed, they are background
  const named = (index: number) => (index >= 0 ? [index] : []);
  if (style === 0) {
    const names = shuffled(shapes, random);
    return { names, objectNames: image.objects.map((o) => named(names.indexOf(o.shape))) };
  }
  if (style === 1) {
    const suffix = random.uniform() < 0.5 ? " object" : "";
    const order = shuffled(COLOURS, random);
    return {
      names: order.map((c) => c + suffix),
      objectNames: image.objects.map((o) => [order.indexOf(o.colour)]),
    };
  }
  const present = new Set(
    image.objects.filter((o) => o.shape !== heldOutShape).map((o) => `${o.colour} ${o.shape}`),
  );
  const absent = COLOURS.flatMap((c) => shapes.map((s) => `${c} ${s}`)).filter((p) =>
    !present.has(p)
  );
  const distractors = shuffled(absent, random).slice(0, Math.floor(random.uniform() * 3));
  const names = shuffled([...present, ...distractors], random);
  return {
    names,
    objectNames: image.objects.map((o) => named(names.indexOf(`${o.colour} ${o.shape}`))),
  };
}

/** Training settings of the demo model. */
export interface DemoTrainingSettings {
  images: number;
  epochs: number;
  seed: number;
  lr: number;
  weightDecay: number;
  batchSize: number;
  clipNorm: number;
  /** A shape the corpus never names (a concept the demo model lacks), if any. */
  heldOutShape?: string;
}

/** The settings the committed demo weights were trained with. */
export const DEMO_TRAINING: DemoTrainingSettings = {
  images: 240,
  epochs: 12,
  seed: 1,
  lr: 1e-3,
  weightDecay: 1e-4,
  batchSize: 4,
  clipNorm: 1.0,
  heldOutShape: "triangle",
};

/** Result: the trained head weights (parameter name -> values) and the loss per epoch. */
export interface DemoTrainingResult {
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  epochLosses: number[];
}

/** Trains the nano head on the corpus. */
export async function trainDemoHead(
  tokenizer: BertTokenizer,
  settings: DemoTrainingSettings = DEMO_TRAINING,
  log: (line: string) => void = () => {},
): Promise<DemoTrainingResult> {
  const arch = presetArchitecture("nano");
  const T = arch.maxQueryLength, D = arch.bert.hiddenSize, C = arch.fpnChannels;
  const backbone: WeightSource = new RandomWeights(DEMO_BACKBONE_SEED);
  const textSession = await ort.InferenceSession.create(
    buildTextGraph(arch, backbone).build().model,
  );
  const imageSession = await ort.InferenceSession.create(
    buildImageGraph(arch, backbone).build().model,
  );
  const corpus = groundingCorpus(settings.images, settings.seed);

  // features of every image and its mirror, computed once
  const views = new Map<
    string,
    {
      levels: { data: Float32Array; h: number; w: number }[];
      boxes: [number, number, number, number][];
    }
  >();
  for (const [index, image] of corpus.entries()) {
    for (const flip of [false, true]) {
      const pre = preprocessImage(image, arch.preprocess, { flipHorizontal: flip });
      const out = await imageSession.run({
        image: new ort.Tensor("float32", pre.input.data, [1, 3, pre.input.height, pre.input.width]),
      });
      const sx = pre.resizedSize.width / image.width, sy = pre.resizedSize.height / image.height;
      const W = pre.resizedSize.width;
      views.set(`${index}:${flip}`, {
        levels: [3, 4, 5, 6, 7].map((l) => {
          const t = out[`fpn_p${l}`];
          return { data: t.data as Float32Array, h: Number(t.dims[2]), w: Number(t.dims[3]) };
        }),
        boxes: image.objects.map(({ box: [x, y, w, h] }) => {
          // GLIP's xyxy (x2 = x + w - 1), resized, then mirrored within the resized width
          let [x1, x2] = [x * sx, (x + w - 1) * sx];
          if (flip) [x1, x2] = [W - x2 - 1, W - x1 - 1];
          return [x1, y * sy, x2, (y + h - 1) * sy];
        }),
      });
    }
  }
  await imageSession.release();
  log(`corpus: ${corpus.length} images, features cached`);

  const textCache = new Map<string, Float32Array>();
  const textFeatures = async (ids: Int32Array, mask: Int32Array, key: string) => {
    let hidden = textCache.get(key);
    if (!hidden) {
      const out = await textSession.run({
        input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, (v) => BigInt(v)), [1, T]),
        attention_mask: new ort.Tensor("int64", BigInt64Array.from(mask, (v) => BigInt(v)), [1, T]),
      });
      hidden = (out.lang_hidden.data as Float32Array).slice();
      textCache.set(key, hidden);
    }
    return hidden;
  };

  const first = views.get("0:false")!;
  const levels: LevelSizes = first.levels.map((l) => [l.h, l.w]);
  const step = buildTrainStep(arch, new RandomWeights(DEMO_BACKBONE_SEED), levels, {
    promptOffset: false,
    trainWeights: () => true,
  });
  const session = await ort.InferenceSession.create(step.graph.build().model);
  const tensors: TrainableTensor[] = step.trainable.map(({ value, initial }) => ({
    name: value.name,
    values: initial,
    lr: settings.lr,
    weightDecay: /bias|norm|scale/.test(value.name) ? 0 : settings.weightDecay,
  }));
  const shapes = new Map(step.trainable.map(({ value }) => [value.name, value.shape as number[]]));
  const optimizer = new AdamW(tensors);
  const zeroOffset = new ort.Tensor("float32", new Float32Array(T * D), [1, T, D]);
  const epochLosses: number[] = [];
  try {
    for (let epoch = 1; epoch <= settings.epochs; epoch++) {
      const random = new SeededRandom(settings.seed * 1000003 + epoch);
      const order = shuffled([...corpus.keys()], random);
      let lossSum = 0;
      for (let b = 0; b < order.length; b += settings.batchSize) {
        const batch = order.slice(b, b + settings.batchSize).map((index) => {
          const flip = random.uniform() < 0.5;
          const view = views.get(`${index}:${flip}`)!;
          const prompt = corpusPrompt(corpus[index], random, settings.heldOutShape);
          const chunk = buildPrompt(tokenizer, prompt.names, { maxLength: T });
          const boxes: TargetBox[] = view.boxes.map((box, o) => ({
            box,
            tokens: prompt.objectNames[o].flatMap((n) =>
              chunk.positiveMapLabelToToken.get(n + 1) ?? []
            ),
          })).filter((b) => b.tokens.length > 0);
          return { view, chunk, step: imageStepTargets(arch, levels, boxes) };
        });
        const normalizers = batchNormalizers(batch.map((x) => x.step.targets));
        const gradients = new Map(tensors.map((t) => [t.name, new Float32Array(t.values.length)]));
        for (const { view, chunk, step: imageStep } of batch) {
          const hidden = await textFeatures(
            chunk.encoding.inputIds,
            chunk.encoding.attentionMask,
            chunk.query,
          );
          const feeds: Record<string, ort.Tensor> = {
            lang_hidden: new ort.Tensor("float32", hidden, [1, T, D]),
            attention_mask: new ort.Tensor(
              "int64",
              BigInt64Array.from(chunk.encoding.attentionMask, (v) => BigInt(v)),
              [1, T],
            ),
            prompt_offset: zeroOffset,
            ...lossFeeds(imageStep, normalizers),
          };
          view.levels.forEach((l, i) => {
            feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", l.data, [1, C, l.h, l.w]);
          });
          for (const t of tensors) {
            feeds[t.name] = new ort.Tensor("float32", t.values, shapes.get(t.name)!);
          }
          const out = await session.run(feeds);
          const loss = Number(out.loss.data[0]);
          if (!Number.isFinite(loss)) {
            throw new Error(`demo training: loss ${loss} at epoch ${epoch}`);
          }
          lossSum += loss;
          for (const t of tensors) {
            const g = out[`grad/${t.name}`].data as Float32Array;
            const sum = gradients.get(t.name)!;
            for (let k = 0; k < g.length; k++) sum[k] += g[k];
          }
        }
        clipGradNorm([...gradients.values()], settings.clipNorm);
        optimizer.step(gradients);
      }
      const steps = Math.ceil(order.length / settings.batchSize);
      epochLosses.push(lossSum / steps);
      log(`epoch ${epoch}: mean batch loss ${(lossSum / steps).toFixed(4)}`);
    }
  } finally {
    await session.release();
    await textSession.release();
  }
  return {
    weights: new Map(tensors.map((t) => [t.name, { shape: shapes.get(t.name)!, data: t.values }])),
    epochLosses,
  };
}
