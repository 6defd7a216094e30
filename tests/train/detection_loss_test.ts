/**
 * GLIP's detection loss as graph ops and the prompt-tuning train step built on it:
 * the loss of the step graph equals a float64 transcription of `ATSSLossComputation` applied to
 * the inference head's outputs, the GIoU terms' gradients match finite differences, and the
 * step's prompt-offset gradient matches finite differences of its own loss.
 */
import * as ort from "onnxruntime-node";
import { presetArchitecture } from "../../models/glip/config.ts";
import { buildHeadGraph } from "../../models/glip/graphs.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import { levelAnchors } from "../../models/post/anchors.ts";
import { giouLossTerms } from "../../models/train/detection_loss.ts";
import { buildPromptTuningStep, type LevelSizes } from "../../models/train/prompt_tuning_graph.ts";
import {
  atssTargets,
  decodeBox,
  type ImageTargets,
  lossBoxTensors,
} from "../../models/train/targets.ts";
import { assert, assertAlmostEquals } from "../assert.ts";
import { checkGradients, randomData } from "../autodiff/gradcheck.ts";

const arch = presetArchitecture("nano");
const T = arch.maxQueryLength, D = arch.bert.hiddenSize, C = arch.fpnChannels;
const LEVELS: LevelSizes = [[12, 16], [6, 8], [3, 4], [2, 2], [1, 1]];
const STRIDES = [8, 16, 32, 64, 128], SIZES = [64, 128, 256, 512, 1024];

function fixture() {
  const anchors = LEVELS.map(([h, w], i) => levelAnchors(h, w, STRIDES[i], SIZES[i]));
  const targets = atssTargets(anchors, [
    { box: [10, 12, 70, 80], tokens: [1, 2] },
    { box: [60, 8, 120, 50], tokens: [4] },
  ], T);
  const mask = new BigInt64Array(T).fill(1n, 0, 7);
  const features = LEVELS.map(([h, w], i) => randomData(C * h * w, 30 + i));
  return {
    anchors,
    targets,
    mask,
    features,
    langHidden: randomData(T * D, 40),
    promptOffset: randomData(T * D, 41, [-0.2, 0.2]),
  };
}

function normalizers(t: ImageTargets): Float32Array {
  const positives = Math.max(t.positiveCount, 1);
  return Float32Array.from([
    1 / positives,
    t.positiveCount ? 2 / t.centernessSum : 0,
    1 / positives,
  ]);
}

function stepFeeds(f: ReturnType<typeof fixture>, promptOffset = f.promptOffset) {
  const N = f.targets.anchorCount;
  const boxes = lossBoxTensors(f.anchors, f.targets);
  const feeds: Record<string, ort.Tensor> = {
    lang_hidden: new ort.Tensor("float32", f.langHidden, [1, T, D]),
    attention_mask: new ort.Tensor("int64", f.mask, [1, T]),
    prompt_offset: new ort.Tensor("float32", promptOffset, [1, T, D]),
    token_targets: new ort.Tensor("float32", f.targets.tokenTargets, [1, N, T]),
    anchor_geometry: new ort.Tensor("float32", boxes.anchorGeometry, [N, 4]),
    target_boxes: new ort.Tensor("float32", boxes.targetBoxes, [N, 4]),
    centerness_targets: new ort.Tensor("float32", f.targets.centernessTargets, [N]),
    positive: new ort.Tensor("float32", f.targets.positive, [N]),
    loss_normalizers: new ort.Tensor("float32", normalizers(f.targets), [3]),
  };
  LEVELS.forEach(([h, w], i) => {
    feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", f.features[i], [1, C, h, w]);
  });
  return feeds;
}

/** ATSSLossComputation's three terms in float64 from the head's outputs. */
function referenceLoss(
  f: ReturnType<typeof fixture>,
  out: Record<string, ort.Tensor>,
): { token: number; regression: number; centerness: number } {
  const t = f.targets;
  const anchors = f.anchors.flatMap((a) =>
    Array.from({ length: a.length / 4 }, (_, i) => a.subarray(i * 4, i * 4 + 4))
  );
  const deltas: number[][] = [], ctr: number[] = [], logits: number[][] = [];
  LEVELS.forEach(([h, w], l) => {
    const reg = out[`bbox_reg_l${l}`].data as Float32Array;
    const c = out[`centerness_l${l}`].data as Float32Array;
    const x = out[`dot_product_logits_l${l}`].data as Float32Array;
    for (let i = 0; i < h * w; i++) {
      deltas.push([0, 1, 2, 3].map((k) => reg[k * h * w + i]));
      ctr.push(c[i]);
      logits.push(Array.from(x.subarray(i * T, (i + 1) * T)));
    }
  });
  const positives = Math.max(t.positiveCount, 1);
  let token = 0;
  logits.forEach((row, n) => {
    row.forEach((x, k) => {
      if (f.mask[k] === 0n) return;
      const y = t.tokenTargets[n * T + k];
      const p = 1 / (1 + Math.exp(-x));
      const ce = Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x)));
      const pt = p * y + (1 - p) * (1 - y);
      token += (0.25 * y + 0.75 * (1 - y)) * ce * (1 - pt) ** 2;
    });
  });
  let regression = 0, centerness = 0, weightSum = 0;
  for (let n = 0; n < anchors.length; n++) {
    if (!t.positive[n]) continue;
    const [px1, py1, px2r, py2r] = decodeBox(deltas[n], anchors[n]);
    const px2 = Math.max(px1, px2r), py2 = Math.max(py1, py2r);
    const [tx1, ty1, tx2, ty2] = decodeBox(
      t.regressionTargets.subarray(n * 4, n * 4 + 4),
      anchors[n],
    );
    const iw = Math.min(px2, tx2) - Math.max(px1, tx1),
      ih = Math.min(py2, ty2) - Math.max(py1, ty1);
    const inter = iw > 0 && ih > 0 ? iw * ih : 0;
    const union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter + 1e-7;
    const enclosing = (Math.max(px2, tx2) - Math.min(px1, tx1)) *
        (Math.max(py2, ty2) - Math.min(py1, ty1)) + 1e-7;
    const giou = inter / union - (enclosing - union) / enclosing;
    const w = t.centernessTargets[n];
    regression += (1 - giou) * w;
    weightSum += w;
    const x = ctr[n];
    centerness += Math.max(x, 0) - x * w + Math.log1p(Math.exp(-Math.abs(x)));
  }
  return {
    token: token / positives,
    regression: 2 * regression / weightSum,
    centerness: centerness / positives,
  };
}

Deno.test("the step graph's loss equals GLIP's loss computed in float64 from the head's outputs", async () => {
  const f = fixture();
  assert(f.targets.positiveCount > 2, "the fixture has positives");
  const weights = new RandomWeights(3);
  const step = await ort.InferenceSession.create(
    buildPromptTuningStep(arch, weights, LEVELS).build().model,
  );
  const head = await ort.InferenceSession.create(
    buildHeadGraph(arch, weights, "decomposed").build().model,
  );
  try {
    const feeds = stepFeeds(f);
    const got = await step.run(feeds);
    const headFeeds = Object.fromEntries(
      head.inputNames.map((name) => [name, feeds[name]]),
    );
    const expected = referenceLoss(f, await head.run(headFeeds));
    const part = (name: string) => Number(got[name].data[0]);
    assertAlmostEquals(part("loss_token"), expected.token, 1e-4 * expected.token);
    assertAlmostEquals(part("loss_regression"), expected.regression, 1e-4 * expected.regression);
    assertAlmostEquals(part("loss_centerness"), expected.centerness, 1e-4 * expected.centerness);
    assertAlmostEquals(
      part("loss"),
      expected.token + expected.regression + expected.centerness,
      1e-4 * part("loss"),
    );
  } finally {
    await step.release();
    await head.release();
  }
});

Deno.test("GIoU loss terms: gradients to the regression outputs match finite differences", async () => {
  const N = 6;
  const geometry = Float32Array.from(
    { length: N * 4 },
    (_, i) => [40 + i, 30 + 2 * i, 64, 48][i % 4],
  );
  const targets = Float32Array.from({ length: N * 4 }, (_, i) => [15, 12, 70, 60][i % 4] + (i % 3));
  await checkGradients(
    [{ name: "deltas", dims: [N, 4], data: randomData(N * 4, 5, [-1.5, 1.5]) }],
    (g, [deltas]) =>
      giouLossTerms(
        g,
        deltas,
        g.constant(geometry, [N, 4], "float32"),
        g.constant(targets, [N, 4], "float32"),
      ),
    { step: 1e-3 },
  );
});

Deno.test("the train step's prompt-offset gradient matches finite differences of its loss", async () => {
  const f = fixture();
  const step = await ort.InferenceSession.create(
    buildPromptTuningStep(arch, new RandomWeights(3), LEVELS).build().model,
  );
  try {
    const grad = (await step.run(stepFeeds(f))).grad_prompt_offset.data as Float32Array;
    const lossAt = async (offset: Float32Array) =>
      Number((await step.run(stepFeeds(f, offset), ["loss"])).loss.data[0]);
    const h = 1e-3;
    // float32 throughout (onnxruntime has no float64 Conv or GridSample): measured at most 0.5%
    // at h = 1e-3, from rounding noise and the kinks of deformable sampling, DyReLU and GIoU
    for (let d = 0; d < 3; d++) {
      const v = randomData(T * D, 100 + d);
      const expected = grad.reduce((s, x, k) => s + x * v[k], 0);
      const numeric = ((await lossAt(f.promptOffset.map((x, k) => x + h * v[k]))) -
        (await lossAt(f.promptOffset.map((x, k) => x - h * v[k])))) / (2 * h);
      const relative = Math.abs(expected - numeric) / Math.abs(numeric);
      assert(Math.abs(numeric) > 1e-3, "the loss moves");
      assert(relative < 2e-2, `direction ${d}: analytic ${expected}, numeric ${numeric}`);
    }
  } finally {
    await step.release();
  }
});
