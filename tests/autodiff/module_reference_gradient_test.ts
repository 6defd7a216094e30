/**
 * The fusion block and a BERT layer differentiated by appendGradients() against float64 finite
 * differences (h = 1e-5) of their naive-loop references (models/naive/transformer.ts):
 * directional derivatives of sum(outputs * R) agree within 1e-3 relative.
 */
import { assert } from "../assert.ts";
import * as ort from "onnxruntime-node";
import { GraphBuilder, type Value } from "../../models/graph/builder.ts";
import type { Ctx } from "../../models/glip/layers.ts";
import { vlFuse } from "../../models/glip/head.ts";
import { bertLayer, extendedAttentionMask } from "../../models/glip/bert.ts";
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights, SeededRandom } from "../../models/glip/weights.ts";
import { appendGradients } from "../../models/autodiff/backward.ts";
import { inferStaticShapes } from "../../models/graph/static_shapes.ts";
import * as naive from "../../models/naive/transformer.ts";

interface Operand {
  name: string;
  dims: number[];
  data: Float64Array;
}

/**
 * Runs the analytic gradients of sum_k(out_k * R_k) for `g` and compares directional
 * derivatives with float64 central differences of `reference` (which returns the outputs in the
 * graph's layout, in `outputs` order).
 */
async function compare(
  g: GraphBuilder,
  outputs: Value[],
  operands: Operand[],
  constants: Record<string, ort.Tensor>,
  reference: (x: Record<string, Float64Array>) => Float64Array[],
) {
  const random = new SeededRandom(9);
  const dims = Object.fromEntries(operands.map((o) => [o.name, o.dims]));
  for (const [name, t] of Object.entries(constants)) dims[name] = [...t.dims];
  const shapes = inferStaticShapes(g, dims);
  const weightsR: Float32Array[] = [];
  let loss: Value | null = null;
  for (const out of outputs) {
    const d = shapes.get(out.name)!.dims;
    const r = Float32Array.from({ length: d.reduce((a, b) => a * b, 1) }, () => random.normal());
    weightsR.push(r);
    const term = g.op("ReduceSum", [
      g.op("Mul", [out, g.constant(r, d, "float32")]),
      g.ints([...d.keys()]),
    ], { keepdims: 0 });
    loss = loss ? g.op("Add", [loss, term]) : term;
  }
  g.output(loss!, "loss");
  const wrt = operands.map((o) => g.inputs.find((v) => v.name === o.name)!);
  const gradients = appendGradients(g, loss!, wrt, dims);
  operands.forEach((o) => g.output(gradients.get(o.name)!, `grad_${o.name}`));
  const session = await ort.InferenceSession.create(g.build().model);
  const feeds: Record<string, ort.Tensor> = { ...constants };
  for (const o of operands) {
    feeds[o.name] = new ort.Tensor("float32", Float32Array.from(o.data), o.dims);
  }
  const analytic = await session.run(feeds);
  await session.release();
  const base = Object.fromEntries(operands.map((o) => [o.name, o.data]));
  const naiveLoss = (x: Record<string, Float64Array>) =>
    reference(x).reduce((sum, data, k) => {
      for (let i = 0; i < data.length; i++) sum += weightsR[k][i] * data[i];
      return sum;
    }, 0);
  const step = 1e-5;
  for (const o of operands) {
    const grad = analytic[`grad_${o.name}`].data as Float32Array;
    for (let d = 0; d < 2; d++) {
      const direction = Float64Array.from({ length: grad.length }, () => random.normal());
      let expected = 0;
      for (let k = 0; k < grad.length; k++) expected += grad[k] * direction[k];
      const at = (sign: number) =>
        naiveLoss({ ...base, [o.name]: o.data.map((v, k) => v + sign * step * direction[k]) });
      const numeric = (at(1) - at(-1)) / (2 * step);
      const relative = Math.abs(expected - numeric) / Math.abs(numeric);
      assert(Math.abs(numeric) > 1e-2, `${o.name}: the loss does not move along direction ${d}`);
      assert(
        relative <= 1e-3,
        `d loss / d ${o.name} along direction ${d}: analytic ${expected}, float64 numeric ${numeric} (relative ${relative})`,
      );
    }
  }
}

const normals = (random: SeededRandom, n: number) =>
  Float64Array.from({ length: n }, () => Math.fround(random.normal()));

Deno.test("the fusion block's gradients equal float64 finite differences of the naive block", async () => {
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
  const visual = sizes.map(([h, w], i) => g.input(`v${i}`, "float32", [1, C, h, w]));
  const lang = g.input("lang", "float32", [1, L, D]);
  const mask = g.input("mask", "float32", [1, L]);
  const fused = vlFuse(ctx, arch, "fuse", visual, lang, mask);
  const random = new SeededRandom(4);
  const operands: Operand[] = sizes.map(([h, w], i) => ({
    name: `v${i}`,
    dims: [1, C, h, w],
    data: normals(random, C * h * w),
  }));
  operands.push({ name: "lang", dims: [1, L, D], data: normals(random, L * D) });
  const maskValues = [1, 1, 1, 1, 1, 1, 0, 0];
  const p = (name: string, shape: number[]) => weights.get(name, shape);
  const total = sizes.reduce((sum, [h, w]) => sum + h * w, 0);
  await compare(
    g,
    [...fused.visual, fused.lang],
    operands,
    { mask: new ort.Tensor("float32", Float32Array.from(maskValues), [1, L]) },
    (x) => {
      const tokens = new Float64Array(total * C);
      let offset = 0;
      sizes.forEach(([h, w], i) => {
        const hw = h * w;
        const data = x[`v${i}`];
        for (let t = 0; t < hw; t++) {
          for (let c = 0; c < C; c++) tokens[(offset + t) * C + c] = data[c * hw + t];
        }
        offset += hw;
      });
      const out = naive.fusionBlock(
        { n: total, c: C, data: tokens },
        { n: L, c: D, data: x.lang },
        maskValues,
        p,
        "fuse",
        E,
        heads,
      );
      offset = 0;
      const levels = sizes.map(([h, w]) => {
        const hw = h * w;
        const level = new Float64Array(C * hw);
        for (let t = 0; t < hw; t++) {
          for (let c = 0; c < C; c++) level[c * hw + t] = out.visual.data[(offset + t) * C + c];
        }
        offset += hw;
        return level;
      });
      return [...levels, out.lang.data];
    },
  );
});

Deno.test("a BERT layer's gradients equal float64 finite differences of the naive layer", async () => {
  const L = 8, D = 16, heads = 4, intermediate = 32;
  const arch = presetArchitecture("nano");
  const bert = { ...arch.bert, hiddenSize: D, numHeads: heads, intermediateSize: intermediate };
  const weights = new RandomWeights(23);
  const g = new GraphBuilder("bert_layer");
  const ctx: Ctx = { g, w: weights };
  const hidden = g.input("hidden", "float32", [1, L, D]);
  const mask = g.input("mask", "float32", [1, L]);
  const out = bertLayer(ctx, hidden, extendedAttentionMask(ctx, mask), "layer", bert, {
    clampScores: true,
  });
  const maskValues = [1, 1, 1, 1, 1, 0, 0, 0];
  const p = (name: string, shape: number[]) => weights.get(name, shape);
  await compare(
    g,
    [out],
    [{ name: "hidden", dims: [1, L, D], data: normals(new SeededRandom(3), L * D) }],
    { mask: new ort.Tensor("float32", Float32Array.from(maskValues), [1, L]) },
    (x) => [
      naive.bertLayer(
        { n: L, c: D, data: x.hidden },
        maskValues,
        p,
        "layer",
        heads,
        intermediate,
        bert.layerNormEps,
        true,
      ).data,
    ],
  );
});
