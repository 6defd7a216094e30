/**
 * The whole full-model train step on the nano model (text encoder, image backbone + FPN, fusion
 * + head and GLIP's loss, chained through the head's input gradients and the backbones'
 * vector-Jacobian graphs): the gradient of one tensor in each graph matches finite differences
 * of the batch loss along a random unit direction. float32 throughout (onnxruntime has no float64
 * Conv or GridSample): measured at most 1.4% at h = 3e-2 (smaller steps drown in rounding noise,
 * larger ones in the curvature of the random Swin), tolerance 3%.
 */
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";
import { buildPrompt } from "../../models/text/prompt.ts";
import { FullModelStep, levelSizesOf } from "../../models/train/full_model_step.ts";
import { fullTuningTrains } from "../../models/train/full_tuner.ts";
import { assert, assertEquals } from "../assert.ts";
import { randomData } from "../autodiff/gradcheck.ts";

const VOCAB = new URL("../../models/text/bert-base-uncased-vocab.txt", import.meta.url).pathname;

Deno.test("full-model step: text, image and head gradients match finite differences of the batch loss", async () => {
  const arch = presetArchitecture("nano");
  const weights = new RandomWeights(3);
  const views = [
    {
      image: { data: randomData(3 * 96 * 128, 1), height: 96, width: 128 },
      boxes: [
        { box: [10, 12, 60, 70] as [number, number, number, number], tokens: [1, 2] },
        { box: [70, 20, 120, 60] as [number, number, number, number], tokens: [4] },
      ],
    },
  ];
  const prompt = buildPrompt(await loadBertTokenizer(VOCAB), ["red circle", "square"], {
    maxLength: arch.maxQueryLength,
  });
  assertEquals(prompt.positiveMapLabelToToken.get(1), [1, 2]);
  const step = await FullModelStep.create(
    arch,
    { text: weights, image: weights, head: weights },
    fullTuningTrains,
    () => ({ lr: 0, weightDecay: 0 }),
    levelSizesOf(96, 128),
  );
  try {
    const names = step.tensors.map((t) => t.name);
    assert(
      !names.some((n) => n.startsWith("backbone.body.patch_embed.")),
      "patch embedding frozen",
    );
    assert(!names.some((n) => n.startsWith("backbone.body.layers.0.")), "Swin stage 1 frozen");
    const run = () => step.run(views, prompt.encoding.inputIds, prompt.encoding.attentionMask);
    const { gradients } = await run();
    const checked = [
      "language_backbone.body.model.encoder.layer.1.attention.self.query.weight",
      "backbone.body.layers.2.blocks.1.mlp.fc1.weight",
      "backbone.fpn.fpn_inner3.weight",
      "rpn.head.dyhead_tower.0.b_attn.attn.l_proj.weight",
      "rpn.head.dyhead_tower.2.DyConv.1.conv.weight",
    ];
    const h = 3e-2;
    for (const [i, name] of checked.entries()) {
      const tensor = step.tensors.find((t) => t.name === name);
      assert(
        tensor,
        `${name} is trained (have ${names.filter((n) => n.includes(name.split(".")[0])).length})`,
      );
      const original = tensor.values.slice();
      // a unit direction: the step moves the tensor by h in norm, however large it is
      const raw = randomData(original.length, 50 + i);
      const norm = Math.sqrt(raw.reduce((s, v) => s + v * v, 0));
      const direction = raw.map((v) => v / norm);
      const grad = gradients.get(name)!;
      const analytic = grad.reduce((s, g, k) => s + g * direction[k], 0);
      tensor.values.set(original.map((x, k) => x + h * direction[k]));
      const plus = (await run()).loss;
      tensor.values.set(original.map((x, k) => x - h * direction[k]));
      const minus = (await run()).loss;
      tensor.values.set(original);
      const numeric = (plus - minus) / (2 * h);
      const relative = Math.abs(analytic - numeric) / Math.abs(numeric);
      assert(Math.abs(numeric) > 1e-5, `${name}: the loss moves`);
      assert(relative < 3e-2, `${name}: analytic ${analytic}, numeric ${numeric}`);
    }
  } finally {
    await step.release();
  }
});
