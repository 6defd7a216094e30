/**
 * Tiny tuning problems on the nano model for the crash/resume tests: two synthetic 96x128
 * training views, a deterministic stand-in for the val AP (a smooth function of the weights, so
 * the plateau schedule and the best-on-val choice move), and random weights.
 */
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";
import { buildPrompt } from "../../models/text/prompt.ts";
import {
  type FullTuningProblem,
  type FullTuningSettings,
  glipFullTuningSettings,
} from "../../models/train/full_tuner.ts";
import {
  glipPromptTuningSettings,
  type PromptTuningProblem,
  type PromptTuningSettings,
} from "../../models/train/prompt_tuner.ts";
import { levelSizesOf } from "../../models/train/full_model_step.ts";
import { randomData } from "../autodiff/gradcheck.ts";

const VOCAB = new URL("../../models/text/bert-base-uncased-vocab.txt", import.meta.url).pathname;

/** The nano architecture. */
export const arch = presetArchitecture("nano");

const BOXES = [
  [{ box: [10, 12, 60, 70] as [number, number, number, number], tokens: [1, 2] }],
  [{ box: [70, 20, 120, 60] as [number, number, number, number], tokens: [4] }],
];

/**
 * A stand-in for the val AP: a hash (FNV-1a) of the bytes of every value, in [0, 1). Any change
 * of any bit moves it, so the best-on-val choice varies between epochs and a resume that is not
 * exact shows.
 */
export function pseudoAp(values: Iterable<Float32Array>): number {
  let hash = 0x811c9dc5;
  for (const data of values) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193) >>> 0;
  }
  return (hash % 10007) / 10007;
}

/** Full-tuning settings for a 3-epoch run: batches of 2, one copy, the views' own size. */
export function tinyFullSettings(maxEpochs = 3): FullTuningSettings {
  return glipFullTuningSettings({
    ...glipPromptTuningSettings(3, 96, 128),
    maxEpochs,
    batchSize: 2,
    copies: 1,
    trainSizes: [96],
  });
}

/** A full-tuning problem over two synthetic views with `stateDir` for its state. */
export async function tinyFullProblem(
  stateDir: string,
  afterStateWrite?: (what: string) => void,
): Promise<FullTuningProblem> {
  const weights = new RandomWeights(3);
  const prompt = buildPrompt(await loadBertTokenizer(VOCAB), ["red circle", "square"], {
    maxLength: arch.maxQueryLength,
  });
  return {
    arch,
    weights: { text: weights, image: weights, head: weights },
    inputIds: prompt.encoding.inputIds,
    attentionMask: prompt.encoding.attentionMask,
    imageCount: 2,
    view: (index) =>
      Promise.resolve({
        image: { data: randomData(3 * 96 * 128, 10 + index), height: 96, width: 128 },
        boxes: BOXES[index],
      }),
    evaluate: (values) => Promise.resolve(pseudoAp(values.values())),
    stateDir,
    afterStateWrite,
  };
}

/** The prompt-tuning problem over two synthetic FPN views of a 96x128 input. */
export async function tinyPromptProblem(
  stateDir: string,
  afterStateWrite?: (what: string) => void,
): Promise<PromptTuningProblem> {
  const prompt = buildPrompt(await loadBertTokenizer(VOCAB), ["red circle", "square"], {
    maxLength: arch.maxQueryLength,
  });
  const T = arch.maxQueryLength;
  const D = arch.bert.hiddenSize;
  const C = arch.fpnChannels;
  return {
    arch,
    weights: new RandomWeights(5),
    langHidden: randomData(T * D, 7),
    attentionMask: prompt.encoding.attentionMask,
    imageCount: 2,
    view: (index) =>
      Promise.resolve({
        levels: levelSizesOf(96, 128).map(([height, width], level) => ({
          data: randomData(C * height * width, 100 * index + level),
          height,
          width,
        })),
        boxes: BOXES[index],
      }),
    evaluate: (offset) => Promise.resolve(pseudoAp([offset])),
    stateDir,
    afterStateWrite,
  };
}

/** Prompt-tuning settings for a short run: batches of 2, one copy, the views' own size. */
export function tinyPromptSettings(maxEpochs: number): PromptTuningSettings {
  return {
    ...glipPromptTuningSettings(3, 96, 128),
    maxEpochs,
    batchSize: 2,
    copies: 1,
    trainSizes: [96],
  };
}
