/**
 * GLIP-T(A) (no fusion) from the YAML path against independent naive-loop references of every
 * head module: modulated deformable conv, GroupNorm, DyConv's three branches with scale
 * attention and the offset quirk, DyReLU, box/centerness heads and dot-product logits on the
 * masked BERT output plus the prompt offset. Small random inputs, both deformable-conv forms.
 */
import { assert } from "../assert.ts";
import * as ort from "onnxruntime-node";
import { architectureFromGlipYaml } from "../../models/glip/config.ts";
import { buildHeadGraph } from "../../models/glip/graphs.ts";
import { RandomWeights, SeededRandom } from "../../models/glip/weights.ts";
import { dyConvBlock, heads, type Map3 } from "../../models/naive/head.ts";

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

function close(ours: Float32Array, reference: Float64Array, what: string) {
  assert(ours.length === reference.length, `${what}: length ${ours.length} vs ${reference.length}`);
  for (let i = 0; i < ours.length; i++) {
    const diff = Math.abs(ours[i] - reference[i]);
    assert(
      diff <= 1e-4 * Math.abs(reference[i]) + 1e-5,
      `${what}[${i}]: ${ours[i]} vs ${reference[i]} (diff ${diff})`,
    );
  }
}

for (const form of ["native", "decomposed"] as const) {
  Deno.test(`GLIP-T(A) head graph equals the naive references (${form} deformable conv)`, async () => {
    const arch = architectureFromGlipYaml(YAML, "glip_A.yaml", BERT);
    const weights = new RandomWeights(11);
    const session = await ort.InferenceSession.create(
      buildHeadGraph(arch, weights, form).build().model,
    );
    const random = new SeededRandom(5);
    const levels: Map3[] = SIZES.map(([h, w]) => ({
      c: C,
      h,
      w,
      data: Float64Array.from({ length: C * h * w }, () => random.normal()),
    }));
    const hidden = Float64Array.from({ length: L * D }, () => random.normal());
    const offset = Float64Array.from({ length: L * D }, () => 0.1 * random.normal());
    const maskValues = [1, 1, 1, 1, 1, 0, 0, 0];
    const feeds: Record<string, ort.Tensor> = {
      lang_hidden: new ort.Tensor("float32", Float32Array.from(hidden), [1, L, D]),
      attention_mask: new ort.Tensor("int64", BigInt64Array.from(maskValues, BigInt), [1, L]),
      prompt_offset: new ort.Tensor("float32", Float32Array.from(offset), [1, L, D]),
    };
    levels.forEach((
      m,
      i,
    ) => (feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", Float32Array.from(m.data), [
      1,
      C,
      m.h,
      m.w,
    ])));
    const out = await session.run(feeds);
    // naive: the tower, then the heads on the masked BERT output plus the offset (GLIP-T(A))
    const p = (name: string, shape: number[]) => weights.get(name, shape);
    const inputs = levels.map((m) => ({
      ...m,
      data: Float64Array.from(Float32Array.from(m.data)),
    }));
    let tower: Map3[] = inputs;
    for (let block = 0; block < 2; block++) {
      tower = dyConvBlock(tower, p, `rpn.head.dyhead_tower.${block}`, C, 16);
    }
    const embedded = Float64Array.from(
      { length: L * D },
      (_, k) => Math.fround(hidden[k]) * maskValues[Math.floor(k / D)] + Math.fround(offset[k]),
    );
    const reference = heads(tower, embedded, L, D, p, C, 32);
    reference.forEach((level, l) => {
      close(out[`bbox_reg_l${l}`].data as Float32Array, level.box.data, `bbox_reg_l${l}`);
      close(
        out[`centerness_l${l}`].data as Float32Array,
        level.centerness.data,
        `centerness_l${l}`,
      );
      close(
        out[`dot_product_logits_l${l}`].data as Float32Array,
        level.logits,
        `dot_product_logits_l${l}`,
      );
    });
    await session.release();
  });
}
