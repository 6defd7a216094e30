/**
 * The transformer modules of the exported graphs against independent float64 loop references
 * (models/naive/transformer.ts): a Swin block unshifted and shifted, on maps that need padding
 * to window multiples and on one that does not; patch merging; a BERT layer with padding in the
 * mask, with and without GLIP's score clamp; and the bidirectional fusion block over five levels.
 * Each module is built alone with GraphBuilder and random weights and run in onnxruntime-node.
 */
import { assert } from "../assert.ts";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../models/graph/builder.ts";
import type { Ctx } from "../../models/glip/layers.ts";
import { patchMerging, swinBlock } from "../../models/glip/swin.ts";
import { bertLayer, extendedAttentionMask } from "../../models/glip/bert.ts";
import { vlFuse } from "../../models/glip/head.ts";
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights, SeededRandom } from "../../models/glip/weights.ts";
import * as naive from "../../models/naive/transformer.ts";

function close(ours: Float32Array, reference: Float64Array, what: string) {
  assert(ours.length === reference.length, `${what}: length ${ours.length} vs ${reference.length}`);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) {
    const diff = Math.abs(ours[i] - reference[i]);
    worst = Math.max(worst, diff);
    assert(
      diff <= 1e-4 * Math.abs(reference[i]) + 1e-5,
      `${what}[${i}]: ${ours[i]} vs ${reference[i]} (diff ${diff})`,
    );
  }
  // a reference that is all zeros would make the comparison vacuous
  assert(reference.some((v) => Math.abs(v) > 1e-3), `${what}: the reference is all near zero`);
}

/** Random normal values rounded to float32, so both sides see the same inputs. */
function randomInput(random: SeededRandom, count: number, scale = 1): Float64Array {
  return Float64Array.from({ length: count }, () => Math.fround(scale * random.normal()));
}

async function run(
  g: GraphBuilder,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(g.build().model);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const float32 = (data: Float64Array, dims: number[]) =>
  new ort.Tensor("float32", Float32Array.from(data), dims);

const swinCases = [
  { height: 9, width: 11, shift: 0, why: "unshifted, padded to 14 x 14" },
  { height: 9, width: 11, shift: 3, why: "shifted by 3, padded to 14 x 14" },
  { height: 14, width: 7, shift: 3, why: "shifted by 3, no padding" },
];
for (const { height, width, shift, why } of swinCases) {
  Deno.test(`swinBlock() equals the naive Swin block (${height} x ${width}, ${why})`, async () => {
    const C = 16, heads = 2, window = 7;
    const weights = new RandomWeights(21);
    const g = new GraphBuilder("swin_block");
    const x = g.input("x", "float32", [1, height, width, C]);
    g.output(swinBlock({ g, w: weights }, x, "block", C, heads, window, shift, 4), "y");
    const input = randomInput(new SeededRandom(1), height * width * C);
    const out = await run(g, { x: float32(input, [1, height, width, C]) });
    const p = (name: string, shape: number[]) => weights.get(name, shape);
    const reference = naive.swinBlock(
      { n: height * width, c: C, data: input },
      height,
      width,
      p,
      "block",
      heads,
      window,
      shift,
      4,
    );
    close(out.y.data as Float32Array, reference.data, "swin block");
  });
}

Deno.test("patchMerging() equals the naive patch merging (x0, x1, x2, x3 order)", async () => {
  const height = 6, width = 8, C = 8;
  const weights = new RandomWeights(22);
  const g = new GraphBuilder("patch_merging");
  const x = g.input("x", "float32", [1, height, width, C]);
  g.output(patchMerging({ g, w: weights }, x, "merge", C), "y");
  const input = randomInput(new SeededRandom(2), height * width * C);
  const out = await run(g, { x: float32(input, [1, height, width, C]) });
  const p = (name: string, shape: number[]) => weights.get(name, shape);
  const reference = naive.patchMerging(
    { n: height * width, c: C, data: input },
    height,
    width,
    p,
    "merge",
  );
  close(out.y.data as Float32Array, reference.data, "patch merging");
});

for (const clampScores of [false, true]) {
  Deno.test(`bertLayer() equals the naive BERT layer with padding (clamp ${clampScores})`, async () => {
    const L = 8, D = 16, heads = 4, intermediate = 32, eps = 1e-12;
    const arch = presetArchitecture("nano");
    const bert = { ...arch.bert, hiddenSize: D, numHeads: heads, intermediateSize: intermediate };
    const weights = new RandomWeights(23);
    const g = new GraphBuilder("bert_layer");
    const ctx: Ctx = { g, w: weights };
    const hidden = g.input("hidden", "float32", [1, L, D]);
    const mask = g.input("mask", "float32", [1, L]);
    g.output(
      bertLayer(ctx, hidden, extendedAttentionMask(ctx, mask), "layer", bert, { clampScores }),
      "y",
    );
    const maskValues = [1, 1, 1, 1, 1, 0, 0, 0];
    const input = randomInput(new SeededRandom(3), L * D);
    const out = await run(g, {
      hidden: float32(input, [1, L, D]),
      mask: float32(Float64Array.from(maskValues), [1, L]),
    });
    const p = (name: string, shape: number[]) => weights.get(name, shape);
    const reference = naive.bertLayer(
      { n: L, c: D, data: input },
      maskValues,
      p,
      "layer",
      heads,
      intermediate,
      bert.layerNormEps,
      clampScores,
    );
    assert(bert.layerNormEps === eps, `BERT's LayerNorm eps is ${bert.layerNormEps}`);
    close(out.y.data as Float32Array, reference.data, "bert layer");
  });
}

Deno.test("vlFuse() equals the naive bidirectional fusion block over five levels", async () => {
  const C = 32, D = 16, E = 64, heads = 4, L = 8;
  const sizes = [[4, 6], [2, 3], [1, 2], [1, 1], [1, 1]];
  const base = presetArchitecture("nano");
  const arch = {
    ...base,
    bert: { ...base.bert, hiddenSize: D },
    dyhead: { ...base.dyhead, channels: C, fusionEmbedDim: E, fusionHeads: heads },
  };
  const weights = new RandomWeights(24);
  const g = new GraphBuilder("fusion");
  const ctx: Ctx = { g, w: weights };
  const visualInputs = sizes.map(([h, w], i) => g.input(`v${i}`, "float32", [1, C, h, w]));
  const lang = g.input("lang", "float32", [1, L, D]);
  const mask = g.input("mask", "float32", [1, L]);
  const fused = vlFuse(ctx, arch, "fuse", visualInputs, lang, mask);
  fused.visual.forEach((v, i) => g.output(v, `out_v${i}`));
  g.output(fused.lang, "out_lang");

  const random = new SeededRandom(4);
  const levels = sizes.map(([h, w]) => randomInput(random, C * h * w));
  const text = randomInput(random, L * D);
  const maskValues = [1, 1, 1, 1, 1, 1, 0, 0];
  const feeds: Record<string, ort.Tensor> = {
    lang: float32(text, [1, L, D]),
    mask: float32(Float64Array.from(maskValues), [1, L]),
  };
  levels.forEach((data, i) => (feeds[`v${i}`] = float32(data, [1, C, ...sizes[i]])));
  const out = await run(g, feeds);

  // the naive block takes token-major visual tokens: levels flattened (NCHW -> HW x C), concatenated
  const total = sizes.reduce((sum, [h, w]) => sum + h * w, 0);
  const tokens = new Float64Array(total * C);
  let offset = 0;
  levels.forEach((data, i) => {
    const hw = sizes[i][0] * sizes[i][1];
    for (let t = 0; t < hw; t++) {
      for (let c = 0; c < C; c++) tokens[(offset + t) * C + c] = data[c * hw + t];
    }
    offset += hw;
  });
  const p = (name: string, shape: number[]) => weights.get(name, shape);
  const reference = naive.fusionBlock(
    { n: total, c: C, data: tokens },
    { n: L, c: D, data: text },
    maskValues,
    p,
    "fuse",
    E,
    heads,
  );
  close(out.out_lang.data as Float32Array, reference.lang.data, "fused text");
  offset = 0;
  sizes.forEach(([h, w], i) => {
    const hw = h * w;
    const level = new Float64Array(C * hw);
    for (let t = 0; t < hw; t++) {
      for (let c = 0; c < C; c++) level[c * hw + t] = reference.visual.data[(offset + t) * C + c];
    }
    offset += hw;
    close(out[`out_v${i}`].data as Float32Array, level, `fused level ${i}`);
  });
});
