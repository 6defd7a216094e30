/**
 * Gradient checking against central finite differences on onnxruntime-node. The graph under
 * test gets the loss sum(y * R) for a fixed random R, its backward pass from appendGradients(),
 * and both are run in float32.
 *
 * Tolerance (float32 throughout, the engine's only dtype for Conv, GridSample and Resize): with
 * h = 1e-2, each checked coordinate must satisfy |analytic - numeric| <= 1e-3 * scale + 1e-2 *
 * |numeric|, where scale is the largest |numeric| over the checked coordinates of that tensor.
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder, type Value } from "../../models/graph/builder.ts";
import { appendGradients } from "../../models/autodiff/backward.ts";
import { inferStaticShapes } from "../../models/graph/static_shapes.ts";
import { SeededRandom } from "../../models/glip/weights.ts";
import { assert } from "../assert.ts";

/** A float input of the graph under test. */
export interface CheckedInput {
  name: string;
  dims: number[];
  data: Float32Array;
  /** Differentiate with respect to it (default true). */
  differentiate?: boolean;
}

/** Options of {@link checkGradients}. */
export interface GradientCheckOptions {
  /** Coordinates checked per input (a seeded random subset when the input is larger). */
  coordinates?: number;
  step?: number;
  seed?: number;
  /**
   * Check directional derivatives along this many random directions instead of coordinates:
   * analytic g . v against (L(x + h v) - L(x - h v)) / 2h, within `tolerance` relative error.
   * For deep graphs, where one float32 coordinate moves the loss less than its rounding noise.
   */
  directions?: number;
  tolerance?: number;
}

/** Random float32 values: normal, or uniform in [low, high]. */
export function randomData(
  count: number,
  seed: number,
  range?: [number, number],
): Float32Array {
  const random = new SeededRandom(seed);
  return Float32Array.from(
    { length: count },
    () => range ? range[0] + (range[1] - range[0]) * random.uniform() : random.normal(),
  );
}

/** Builds `build`'s graph, differentiates sum(y * R), and compares with finite differences. */
export async function checkGradients(
  inputs: CheckedInput[],
  build: (g: GraphBuilder, values: Value[]) => Value,
  options: GradientCheckOptions = {},
): Promise<{ worst: number }> {
  const g = new GraphBuilder("gradcheck");
  const values = inputs.map((i) => g.input(i.name, "float32", i.dims));
  const y = build(g, values);
  return await checkGraphGradients(g, [y], inputs, [], options);
}

/**
 * Differentiates sum over `targets` of sum(t * R_t) in the built graph `g` with respect to the
 * float `inputs` (fed with their data) and compares with finite differences. `constantFeeds` are
 * the other graph inputs (int64 masks and the like).
 */
export async function checkGraphGradients(
  g: GraphBuilder,
  targets: Value[],
  inputs: CheckedInput[],
  constantFeeds: { name: string; dims: number[]; data: BigInt64Array | Float32Array }[],
  options: GradientCheckOptions = {},
): Promise<{ worst: number }> {
  const step = options.step ?? 1e-2;
  const seed = options.seed ?? 7;
  const dims = Object.fromEntries(
    [...inputs, ...constantFeeds].map((i) => [i.name, i.dims]),
  );
  const shapes = inferStaticShapes(g, dims);
  let loss: Value | null = null;
  targets.forEach((target, t) => {
    const outDims = shapes.get(target.name)!.dims;
    const r = randomData(outDims.reduce((a, b) => a * b, 1), seed + 1 + t);
    const term = g.op("ReduceSum", [
      g.op("Mul", [target, g.constant(r, outDims, "float32")]),
      g.ints([...outDims.keys()]),
    ], { keepdims: 0 });
    loss = loss ? g.op("Add", [loss, term]) : term;
  });
  g.output(loss!, "loss");
  const wrt = inputs.filter((i) => i.differentiate !== false)
    .map((i) => g.inputs.find((v) => v.name === i.name)!);
  const gradients = appendGradients(g, loss!, wrt, dims);
  for (const v of wrt) g.output(gradients.get(v.name)!, `grad_${v.name}`);
  const session = await ort.InferenceSession.create(g.build().model);
  const feeds = (override?: { name: string; data: Float32Array }) =>
    Object.fromEntries([
      ...inputs.map((i) => [
        i.name,
        new ort.Tensor("float32", override?.name === i.name ? override.data : i.data, i.dims),
      ]),
      ...constantFeeds.map((c) => [
        c.name,
        c.data instanceof BigInt64Array
          ? new ort.Tensor("int64", c.data, c.dims)
          : new ort.Tensor("float32", c.data, c.dims),
      ]),
    ]);
  const analytic = await session.run(feeds());
  const lossAt = async (name: string, data: Float32Array) =>
    Number((await session.run(feeds({ name, data }), ["loss"])).loss.data[0]);
  const random = new SeededRandom(seed);
  let worst = 0;
  try {
    if (options.directions) {
      for (const input of inputs.filter((i) => i.differentiate !== false)) {
        const grad = analytic[`grad_${input.name}`].data as Float32Array;
        for (let d = 0; d < options.directions; d++) {
          const direction = randomData(input.data.length, seed + 1000 * (d + 1));
          let expected = 0;
          for (let k = 0; k < grad.length; k++) expected += grad[k] * direction[k];
          const plus = input.data.map((x, k) => x + step * direction[k]);
          const minus = input.data.map((x, k) => x - step * direction[k]);
          const numeric = ((await lossAt(input.name, plus)) - (await lossAt(input.name, minus))) /
            (2 * step);
          const relative = Math.abs(expected - numeric) / Math.abs(numeric);
          worst = Math.max(worst, relative);
          assert(Math.abs(numeric) > 1e-3, `${input.name}: the loss does not move (vacuous)`);
          assert(
            relative <= (options.tolerance ?? 1e-3),
            `d loss / d ${input.name} along direction ${d}: analytic ${expected}, numeric ${numeric}`,
          );
        }
      }
      return { worst };
    }
    for (const input of inputs.filter((i) => i.differentiate !== false)) {
      const grad = analytic[`grad_${input.name}`].data as Float32Array;
      assert(grad.length === input.data.length, `grad_${input.name} has ${grad.length} values`);
      const count = Math.min(options.coordinates ?? 24, input.data.length);
      const picks = input.data.length <= count
        ? [...input.data.keys()]
        : Array.from({ length: count }, () => Math.floor(random.uniform() * input.data.length));
      const numeric: number[] = [];
      for (const k of picks) {
        const plus = input.data.slice();
        plus[k] += step;
        const minus = input.data.slice();
        minus[k] -= step;
        numeric.push(
          ((await lossAt(input.name, plus)) - (await lossAt(input.name, minus))) / (2 * step),
        );
      }
      const scale = Math.max(...numeric.map(Math.abs));
      assert(scale > 1e-4, `${input.name}: the loss does not move with it (vacuous check)`);
      picks.forEach((k, j) => {
        const diff = Math.abs(grad[k] - numeric[j]);
        worst = Math.max(worst, diff / scale);
        assert(
          diff <= 1e-3 * scale + 1e-2 * Math.abs(numeric[j]),
          `d loss / d ${input.name}[${k}]: analytic ${grad[k]}, numeric ${
            numeric[j]
          } (scale ${scale})`,
        );
      });
    }
  } finally {
    await session.release();
  }
  return { worst };
}
