/**
 * The GLIP-T(A) head (no fusion; decomposed deformable conv) differentiated by appendGradients()
 * against float64 finite differences of the independent naive-loop reference
 * (models/naive/head.ts): directional derivatives of sum(outputs * R) with respect to the
 * prompt offset and two FPN levels agree within 1e-3 relative. The float64 reference makes the
 * step tiny (1e-5), so the many kinks of deformable sampling, ReLU and DyReLU do not blur it.
 */
import { assert } from "../assert.ts";
import * as ort from "onnxruntime-node";
import { architectureFromGlipYaml } from "../../models/glip/config.ts";
import { buildHeadGraph } from "../../models/glip/graphs.ts";
import { RandomWeights, SeededRandom } from "../../models/glip/weights.ts";
import { dyConvBlock, heads, type Map3 } from "../../models/naive/head.ts";
import { appendGradients } from "../../models/autodiff/backward.ts";
import { inferStaticShapes } from "../../models/graph/static_shapes.ts";
import type { Value } from "../../models/graph/builder.ts";

const YAML = `
MODEL:
  BACKBONE: { CONV_BODY: SWINT-FPN-RETINANET, OUT_CHANNELS: 32 }
  LANGUAGE_BACKBONE: { LANG_DIM: 16, MAX_QUERY_LEN: 8 }
  DYHEAD:
    CHANNELS: 32
    NUM_CONVS: 2
    FUSE_CONFIG: { EARLY_FUSE_ON: false, USE_FUSED_FEATURES_DOT_PRODUCT: false, JOINT_EMB_SIZE: 32 }
`;
const BERT = {
  hidden_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  intermediate_size: 32,
};
const SIZES = [[6, 8], [3, 4], [2, 2], [1, 1], [1, 1]];
const C = 32, L = 8, D = 16;

Deno.test("the GLIP-T(A) head's gradients equal float64 finite differences of the naive reference", async () => {
  const arch = architectureFromGlipYaml(YAML, "glip_A.yaml", BERT);
  const weights = new RandomWeights(11);
  const g = buildHeadGraph(arch, weights, "decomposed");
  const dims: Record<string, number[]> = {
    lang_hidden: [1, L, D],
    attention_mask: [1, L],
    prompt_offset: [1, L, D],
  };
  SIZES.forEach(([h, w], i) => (dims[`fpn_p${i + 3}`] = [1, C, h, w]));
  const shapes = inferStaticShapes(g, dims);
  const random = new SeededRandom(5);
  const names = SIZES.flatMap((
    _,
    l,
  ) => [`bbox_reg_l${l}`, `centerness_l${l}`, `dot_product_logits_l${l}`]);
  const weightsR = new Map<string, Float32Array>();
  let loss: Value | null = null;
  for (const name of names) {
    const outDims = shapes.get(name)!.dims;
    const r = Float32Array.from(
      { length: outDims.reduce((a, b) => a * b, 1) },
      () => random.normal(),
    );
    weightsR.set(name, r);
    const term = g.op("ReduceSum", [
      g.op("Mul", [{ name, dtype: "float32", shape: outDims }, g.constant(r, outDims, "float32")]),
      g.ints([...outDims.keys()]),
    ], { keepdims: 0 });
    loss = loss ? g.op("Add", [loss, term]) : term;
  }
  g.output(loss!, "loss");
  const wrtNames = ["prompt_offset", "fpn_p3", "fpn_p5"];
  const wrt = wrtNames.map((n) => g.inputs.find((v) => v.name === n)!);
  const gradients = appendGradients(g, loss!, wrt, dims);
  wrtNames.forEach((n) => g.output(gradients.get(n)!, `grad_${n}`));

  const fround = (n: number) => Array.from({ length: n }, () => Math.fround(random.normal()));
  const inputs: Record<string, Float64Array> = {
    lang_hidden: Float64Array.from(fround(L * D)),
    prompt_offset: Float64Array.from(fround(L * D).map((v) => Math.fround(0.1 * v))),
  };
  SIZES.forEach(([h, w], i) => (inputs[`fpn_p${i + 3}`] = Float64Array.from(fround(C * h * w))));
  const maskValues = [1, 1, 1, 1, 1, 0, 0, 0];
  const feeds: Record<string, ort.Tensor> = {
    attention_mask: new ort.Tensor("int64", BigInt64Array.from(maskValues, BigInt), [1, L]),
  };
  for (const [name, data] of Object.entries(inputs)) {
    feeds[name] = new ort.Tensor("float32", Float32Array.from(data), dims[name]);
  }
  const session = await ort.InferenceSession.create(g.build().model);
  const analytic = await session.run(feeds);
  await session.release();

  const p = (name: string, shape: number[]) => weights.get(name, shape);
  const naiveLoss = (x: Record<string, Float64Array>) => {
    let tower: Map3[] = SIZES.map(([h, w], i) => ({ c: C, h, w, data: x[`fpn_p${i + 3}`] }));
    for (let block = 0; block < 2; block++) {
      tower = dyConvBlock(tower, p, `rpn.head.dyhead_tower.${block}`, C, 16);
    }
    const embedded = Float64Array.from(
      { length: L * D },
      (_, k) => x.lang_hidden[k] * maskValues[Math.floor(k / D)] + x.prompt_offset[k],
    );
    let total = 0;
    heads(tower, embedded, L, D, p, C, 32).forEach((level, l) => {
      const parts: [string, ArrayLike<number>][] = [
        [`bbox_reg_l${l}`, level.box.data],
        [`centerness_l${l}`, level.centerness.data],
        [`dot_product_logits_l${l}`, level.logits],
      ];
      for (const [name, data] of parts) {
        const r = weightsR.get(name)!;
        for (let k = 0; k < data.length; k++) total += r[k] * data[k];
      }
    });
    return total;
  };
  const step = 1e-5;
  for (const name of wrtNames) {
    const grad = analytic[`grad_${name}`].data as Float32Array;
    for (let d = 0; d < 2; d++) {
      const direction = Float64Array.from({ length: grad.length }, () => random.normal());
      let expected = 0;
      for (let k = 0; k < grad.length; k++) expected += grad[k] * direction[k];
      const shifted = (sign: number) => ({
        ...inputs,
        [name]: inputs[name].map((v, k) => v + sign * step * direction[k]),
      });
      const numeric = (naiveLoss(shifted(1)) - naiveLoss(shifted(-1))) / (2 * step);
      const relative = Math.abs(expected - numeric) / Math.abs(numeric);
      assert(Math.abs(numeric) > 1e-2, `${name}: the loss does not move along direction ${d}`);
      assert(
        relative <= 1e-3,
        `d loss / d ${name} along direction ${d}: analytic ${expected}, float64 numeric ${numeric} (relative ${relative})`,
      );
    }
  }
});
