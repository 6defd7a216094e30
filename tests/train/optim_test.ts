/**
 * The optimisation pieces behave as PyTorch's AdamW, clip_grad_norm_ and ReduceLROnPlateau do
 * under GLIP's settings, and as GLIP's auto-termination counts.
 */
import {
  AdamW,
  clipGradNorm,
  EarlyStopping,
  PlateauScheduler,
  type TrainableTensor,
} from "../../models/train/optim.ts";
import { assert, assertAlmostEquals, assertEquals } from "../assert.ts";

function tensor(values: number[], lr = 0.05, weightDecay = 0.25): TrainableTensor {
  return { name: "p", values: Float32Array.from(values), lr, weightDecay };
}

Deno.test("AdamW's first step moves each value by lr against the gradient's sign, after decoupled decay", () => {
  const p = tensor([1, -2, 0.5]);
  new AdamW([p]).step(new Map([["p", Float32Array.from([0.3, -4, 1e-3])]]));
  // m^ = g, v^ = g^2: the update is lr * g / (|g| + eps); decay multiplies by 1 - lr * wd first
  const decay = 1 - 0.05 * 0.25;
  const expected = [1 * decay - 0.05, -2 * decay + 0.05, 0.5 * decay - 0.05 * 1e-3 / (1e-3 + 1e-8)];
  expected.forEach((v, i) => assertAlmostEquals(p.values[i], v, 1e-6));
});

Deno.test("AdamW matches PyTorch's recurrence over several steps (bias-corrected moments)", () => {
  const p = tensor([0.2], 0.01, 0.1);
  const optimizer = new AdamW([p]);
  const grads = [0.5, -0.1, 0.3, 0.05];
  // torch.optim.AdamW, written out for one scalar
  let value = 0.2, m = 0, v = 0;
  grads.forEach((g, i) => {
    optimizer.step(new Map([["p", Float32Array.of(g)]]));
    const t = i + 1;
    value *= 1 - 0.01 * 0.1;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    value -= (0.01 / (1 - 0.9 ** t)) * m / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
    assertAlmostEquals(p.values[0], value, 1e-7);
  });
  assertEquals(optimizer.steps, 4);
});

Deno.test("AdamW state round-trips, so a resumed run continues identically", () => {
  const a = tensor([0.1, 0.2]);
  const first = new AdamW([a]);
  first.step(new Map([["p", Float32Array.of(1, -1)]]));
  const b = { ...a, values: a.values.slice() };
  const second = new AdamW([b]);
  second.restore(JSON.parse(JSON.stringify(first.state())));
  first.step(new Map([["p", Float32Array.of(0.5, 0.25)]]));
  second.step(new Map([["p", Float32Array.of(0.5, 0.25)]]));
  assertEquals(Array.from(b.values), Array.from(a.values));
});

Deno.test("gradient clipping scales the joint L2 norm to max_norm / (norm + 1e-6), never up", () => {
  const a = Float32Array.of(3, 0), b = Float32Array.of(0, 4);
  const norm = clipGradNorm([a, b], 1);
  assertEquals(norm, 5);
  assertAlmostEquals(Math.hypot(a[0], b[1]), 5 / (5 + 1e-6), 1e-6);
  const small = Float32Array.of(0.3);
  clipGradNorm([small], 1);
  assertEquals(small[0], Float32Array.of(0.3)[0]);
});

Deno.test("the plateau schedule cuts the lr tenfold after more than `patience` flat epochs, down to 1e-6", () => {
  const p = tensor([0], 0.05);
  const plateau = new PlateauScheduler([p], { patience: 3 });
  assert(!plateau.step(0.2));
  // within PyTorch's relative threshold (1e-4) is not an improvement
  for (const ap of [0.2, 0.20001, 0.1]) assert(!plateau.step(ap));
  assert(plateau.step(0.19));
  assertAlmostEquals(p.lr, 0.005, 1e-12);
  // GLIP steps only with a truthy AP: zeros do not count as bad epochs
  for (let i = 0; i < 10; i++) plateau.step(0);
  assertAlmostEquals(p.lr, 0.005, 1e-12);
  for (let i = 0; i < 40; i++) plateau.step(0.01);
  assertEquals(p.lr, 1e-6);
});

Deno.test("early stopping: ties reset the count (and are saved as best), patience drops stop", () => {
  const stop = new EarlyStopping(2);
  assertEquals(stop.step(0), { improved: true, stop: false });
  assertEquals(stop.step(0.3), { improved: true, stop: false });
  assertEquals(stop.step(0.2), { improved: false, stop: false });
  assertEquals(stop.step(0.3), { improved: true, stop: false });
  assertEquals(stop.step(0.1), { improved: false, stop: false });
  assertEquals(stop.step(0.29), { improved: false, stop: true });
  assertEquals(stop.best, 0.3);
});
