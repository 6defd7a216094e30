/**
 * GLIP's token sigmoid focal loss: its value equals a float64 transcription of the PyTorch
 * formula (masked tokens left out), and its gradient with respect to the logits matches finite
 * differences through the gradient builder.
 */
import { assert } from "../assert.ts";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../models/graph/builder.ts";
import { GLIP_FOCAL, tokenSigmoidFocalLoss } from "../../models/train/focal_loss.ts";
import { checkGradients, randomData } from "../autodiff/gradcheck.ts";

const B = 1, N = 6, T = 5;
const logits = randomData(B * N * T, 1).map((v) => 3 * v);
const targets = Float32Array.from({ length: B * N * T }, (_, i) => (i % 7 === 0 ? 1 : 0));
const mask = Float32Array.from([1, 1, 1, 0, 0]);

/** PyTorch's formula in float64, over unmasked tokens. */
function reference(): number {
  const { alpha, gamma } = GLIP_FOCAL;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    if (!mask[i % T]) continue;
    const x = logits[i], t = targets[i];
    const p = 1 / (1 + Math.exp(-x));
    const ce = Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
    const pT = p * t + (1 - p) * (1 - t);
    sum += (alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - pT) ** gamma;
  }
  return sum;
}

Deno.test("tokenSigmoidFocalLoss() equals GLIP's formula and leaves padded tokens out", async () => {
  const g = new GraphBuilder("focal");
  const x = g.input("logits", "float32", [B, N, T]);
  const loss = tokenSigmoidFocalLoss(
    g,
    x,
    g.constant(targets, [B, N, T], "float32"),
    g.constant(mask, [B, T], "float32"),
  );
  g.output(loss, "loss");
  const session = await ort.InferenceSession.create(g.build().model);
  const out = await session.run({ logits: new ort.Tensor("float32", logits, [B, N, T]) });
  await session.release();
  const ours = Number(out.loss.data[0]);
  const expected = reference();
  assert(expected > 0.1, `the reference loss is ${expected}`);
  assert(Math.abs(ours - expected) <= 1e-5 * expected, `loss ${ours}, expected ${expected}`);
});

Deno.test("the focal loss gradient to the logits matches finite differences", async () => {
  await checkGradients(
    [{ name: "logits", dims: [B, N, T], data: logits }],
    (g, [x]) =>
      tokenSigmoidFocalLoss(
        g,
        x,
        g.constant(targets, [B, N, T], "float32"),
        g.constant(mask, [B, T], "float32"),
      ),
    { coordinates: 30 },
  );
});
