/**
 * GLIP-T(A) (no deep fusion; the dot product on the BERT output) through the same YAML export
 * path: the tower has only DyConv blocks, no fusion parameters are read, and the token logits
 * follow GLIP's `lang_embedded` (hidden x mask), so padded positions' hidden values never reach them.
 */
import { assert, assertEquals } from "../assert.ts";
import * as ort from "onnxruntime-node";
import { architectureFromGlipYaml } from "../../models/glip/config.ts";
import { buildHeadGraph } from "../../models/glip/graphs.ts";
import { RandomWeights } from "../../models/glip/weights.ts";

const YAML = `
MODEL:
  BACKBONE: { CONV_BODY: SWINT-FPN-RETINANET, OUT_CHANNELS: 64 }
  SWINT: { EMBED_DIM: 16, DEPTHS: [2, 2, 2, 2], NUM_HEADS: [1, 2, 4, 8], WINDOW_SIZE: 7 }
  LANGUAGE_BACKBONE: { LANG_DIM: 64, MAX_QUERY_LEN: 256 }
  DYHEAD:
    CHANNELS: 64
    NUM_CONVS: 2
    FUSE_CONFIG: { EARLY_FUSE_ON: false, USE_FUSED_FEATURES_DOT_PRODUCT: false, JOINT_EMB_SIZE: 64 }
INPUT: { MIN_SIZE_TEST: 160, MAX_SIZE_TEST: 256 }
`;
const BERT = {
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 128,
};

Deno.test("GLIP-T(A) from a YAML config: DyConv-only tower, dot product on the masked BERT output", async () => {
  const arch = architectureFromGlipYaml(YAML, "glip_A.yaml", BERT);
  assertEquals(arch.dyhead.fusion, false);
  const weights = new RandomWeights(3);
  const built = buildHeadGraph(arch, weights, "native").build();
  const names = [...weights.requested.keys()];
  assert(
    !names.some((n) => n.includes("b_attn") || n.includes("attention.self")),
    "no fusion or tower BERT parameters",
  );
  assert(
    names.includes("rpn.head.dyhead_tower.1.DyConv.0.conv.weight"),
    "two DyConv blocks at tower indices 0 and 1",
  );
  const session = await ort.InferenceSession.create(built.model);
  const sizes = [[20, 28], [10, 14], [5, 7], [3, 4], [2, 2]];
  const feeds: Record<string, ort.Tensor> = {};
  sizes.forEach(([h, w], i) => {
    feeds[`fpn_p${i + 3}`] = new ort.Tensor(
      "float32",
      Float32Array.from({ length: 64 * h * w }, (_, k) => Math.sin(k + i)),
      [1, 64, h, w],
    );
  });
  const mask = BigInt64Array.from({ length: 256 }, (_, i) => (i < 10 ? 1n : 0n));
  feeds.attention_mask = new ort.Tensor("int64", mask, [1, 256]);
  feeds.prompt_offset = new ort.Tensor("float32", new Float32Array(256 * 64), [1, 256, 64]);
  const run = async (paddingValue: number) => {
    const hidden = Float32Array.from(
      { length: 256 * 64 },
      (_, k) => (k < 10 * 64 ? Math.cos(k) : paddingValue),
    );
    const out = await session.run({
      ...feeds,
      lang_hidden: new ort.Tensor("float32", hidden, [1, 256, 64]),
    });
    return out.dot_product_logits_l0.data as Float32Array;
  };
  const a = await run(0.5);
  const b = await run(-3);
  assertEquals([...a], [...b]);
  assert(a.some((v, i) => i % 256 < 10 && Math.abs(v) > 1e-3), "real tokens get logits");
});
