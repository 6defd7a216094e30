/**
 * Every gradient rule against central finite differences (tolerance in ./gradcheck.ts): each op
 * alone on small inputs, with broadcasting, negative and strided slices, strided and padded
 * convolutions, bilinear sampling partly outside the image, and both Resize modes. Inputs of
 * piecewise ops are kept away from their kinks by more than the finite-difference step.
 */
import type { GraphBuilder, Value } from "../../models/graph/builder.ts";
import { type CheckedInput, checkGradients, randomData } from "./gradcheck.ts";

const input = (
  name: string,
  dims: number[],
  seed: number,
  range?: [number, number],
): CheckedInput => ({
  name,
  dims,
  data: randomData(dims.reduce((a, b) => a * b, 1), seed, range),
});

/** Values with |x| >= 0.2 (random sign), away from 0 and from each other's kinks. */
const awayFromZero = (name: string, dims: number[], seed: number): CheckedInput => {
  const data = randomData(dims.reduce((a, b) => a * b, 1), seed, [0.2, 1.5]);
  const signs = randomData(data.length, seed + 100);
  return { name, dims, data: data.map((v, i) => (signs[i] < 0 ? -v : v)) };
};

type Case = [string, CheckedInput[], (g: GraphBuilder, v: Value[]) => Value];

const unary = (op: string, x: CheckedInput): Case => [op, [x], (g, [a]) => g.op(op, [a])];

const cases: Case[] = [
  [
    "Add (broadcast)",
    [input("a", [2, 3, 4], 1), input("b", [3, 1], 2)],
    (g, [a, b]) => g.op("Add", [a, b]),
  ],
  [
    "Sub (broadcast)",
    [input("a", [2, 3, 4], 3), input("b", [4], 4)],
    (g, [a, b]) => g.op("Sub", [a, b]),
  ],
  [
    "Mul (broadcast)",
    [input("a", [2, 3], 5), input("b", [2, 1], 6)],
    (g, [a, b]) => g.op("Mul", [a, b]),
  ],
  [
    "Div",
    [input("a", [2, 3], 7), input("b", [2, 3], 8, [0.5, 2])],
    (g, [a, b]) => g.op("Div", [a, b]),
  ],
  ["Max", [input("a", [3, 4], 9), input("b", [3, 4], 10)], (g, [a, b]) => g.op("Max", [a, b])],
  ["Min", [input("a", [3, 4], 11), input("b", [4], 12)], (g, [a, b]) => g.op("Min", [a, b])],
  [
    "Pow (constant exponent)",
    [input("x", [3, 4], 57, [0.3, 2])],
    (g, [x]) => g.op("Pow", [x, g.scalar(2.5)]),
  ],
  unary("Relu", awayFromZero("x", [3, 5], 13)),
  unary("Sigmoid", input("x", [3, 5], 14)),
  unary("Tanh", input("x", [3, 5], 15)),
  unary("Exp", input("x", [3, 5], 16)),
  unary("Log", input("x", [3, 5], 17, [0.5, 3])),
  unary("Sqrt", input("x", [3, 5], 18, [0.5, 3])),
  unary("Erf", input("x", [3, 5], 19)),
  unary("Neg", input("x", [3, 5], 20)),
  unary("Abs", awayFromZero("x", [3, 5], 21)),
  [
    "Clip",
    [awayFromZero("x", [4, 5], 22)],
    (g, [x]) => g.op("Clip", [g.op("Mul", [x, g.scalar(2)]), g.scalar(-1.1), g.scalar(1.1)]),
  ],
  [
    "Where",
    [input("a", [2, 3], 23), input("b", [3], 24)],
    (g, [a, b]) => g.op("Where", [g.constant([1, 0, 1, 0, 0, 1], [2, 3], "bool"), a, b]),
  ],
  [
    "MatMul (batched x matrix)",
    [input("a", [2, 3, 4], 25), input("b", [4, 5], 26)],
    (g, [a, b]) => g.op("MatMul", [a, b]),
  ],
  ["MatMul (batched x batched)", [input("a", [2, 3, 4], 27), input("b", [2, 4, 5], 28)], (
    g,
    [a, b],
  ) => g.op("MatMul", [a, b])],
  [
    "MatMul (matrix x batched)",
    [input("a", [3, 4], 29), input("b", [2, 4, 5], 30)],
    (g, [a, b]) => g.op("MatMul", [a, b]),
  ],
  ["Reshape", [input("x", [2, 6], 31)], (g, [x]) => g.op("Reshape", [x, g.ints([0, 3, -1])])],
  [
    "Transpose",
    [input("x", [2, 3, 4], 32)],
    (g, [x]) => g.op("Transpose", [x], { perm: [2, 0, 1] }),
  ],
  ["Unsqueeze and Squeeze", [input("x", [2, 3], 33)], (g, [x]) =>
    g.op("Mul", [
      g.op("Squeeze", [g.op("Unsqueeze", [x, g.ints([0, 2])]), g.ints([0])]),
      g.constant([1, 2, 3, 4, 5, 6], [2, 1, 3], "float32"),
    ])],
  ["Expand", [input("x", [3, 1], 34)], (g, [x]) => g.op("Expand", [x, g.ints([2, 3, 4])])],
  [
    "Concat",
    [input("a", [2, 3], 35), input("b", [2, 2], 36)],
    (g, [a, b]) => g.op("Concat", [a, b, a], { axis: 1 }),
  ],
  [
    "Slice (negative bounds, several axes)",
    [input("x", [4, 5, 3], 37)],
    (g, [x]) => g.op("Slice", [x, g.ints([1, -4]), g.ints([-1, 9007199254740991]), g.ints([0, 1])]),
  ],
  [
    "Pad (constant, begins and ends)",
    [input("x", [2, 3, 4], 60)],
    (g, [x]) => g.op("Pad", [x, g.ints([0, 1, 2, 1, 0, 1])]),
  ],
  [
    "Gather (embedding rows, repeated indices accumulate)",
    [input("table", [5, 3], 61)],
    (g, [t]) => g.op("Gather", [t, g.constant([4, 1, 1, 0, 4, 4], [2, 3], "int64")], { axis: 0 }),
  ],
  [
    "Gather (axis 1, negative index)",
    [input("x", [2, 4, 3], 62)],
    (g, [x]) => g.op("Gather", [x, g.constant([-1, 0, 2], [3], "int64")], { axis: 1 }),
  ],
  [
    "Slice (step 2)",
    [input("x", [5, 6], 38)],
    (g, [x]) => g.op("Slice", [x, g.ints([1, 0]), g.ints([5, 6]), g.ints([0, 1]), g.ints([2, 3])]),
  ],
  [
    "ReduceSum",
    [input("x", [2, 3, 4], 39)],
    (g, [x]) => g.op("ReduceSum", [x, g.ints([1])], { keepdims: 0 }),
  ],
  [
    "ReduceMean",
    [input("x", [2, 3, 4, 2], 40)],
    (g, [x]) => g.op("ReduceMean", [x, g.ints([2, 3])], { keepdims: 1 }),
  ],
  [
    "ReduceMax",
    [input("x", [3, 6], 41)],
    (g, [x]) => g.op("ReduceMax", [x, g.ints([-1])], { keepdims: 1 }),
  ],
  ["Softmax", [input("x", [2, 3, 5], 42)], (g, [x]) => g.op("Softmax", [x], { axis: -1 })],
  [
    "LayerNormalization",
    [input("x", [2, 3, 6], 43), input("scale", [6], 44), input("bias", [6], 45)],
    (g, [x, s, b]) => g.op("LayerNormalization", [x, s, b], { axis: -1, epsilon: { float: 1e-5 } }),
  ],
  [
    "Conv (3x3, pad 1, bias)",
    [input("x", [1, 3, 5, 6], 46), input("w", [4, 3, 3, 3], 47), input("b", [4], 48)],
    (g, [x, w, b]) => g.op("Conv", [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
  ],
  [
    "Conv (stride 2 on an odd size)",
    [input("x", [2, 2, 7, 6], 49), input("w", [3, 2, 3, 3], 50)],
    (g, [x, w]) =>
      g.op("Conv", [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }),
  ],
  [
    "GridSample (bilinear, zeros, align_corners 0, partly outside)",
    [input("x", [1, 2, 4, 5], 51), gridAwayFromPixels("grid", [1, 3, 4, 2], 52, 4, 5, false)],
    (g, [x, grid]) =>
      g.op("GridSample", [x, grid], { align_corners: 0, mode: "bilinear", padding_mode: "zeros" }),
  ],
  [
    "GridSample (bilinear, zeros, align_corners 1)",
    [input("x", [1, 2, 4, 5], 53), gridAwayFromPixels("grid", [1, 2, 3, 2], 54, 4, 5, true)],
    (g, [x, grid]) =>
      g.op("GridSample", [x, grid], { align_corners: 1, mode: "bilinear", padding_mode: "zeros" }),
  ],
  [
    "Resize (linear, align_corners)",
    [input("x", [1, 2, 2, 3], 55)],
    (g, [x]) =>
      g.op("Resize", [x, null, null, g.ints([1, 2, 4, 5])], {
        mode: "linear",
        coordinate_transformation_mode: "align_corners",
      }),
  ],
  [
    "Resize (nearest, asymmetric, floor)",
    [input("x", [1, 2, 2, 3], 56)],
    (g, [x]) =>
      g.op("Resize", [x, null, null, g.ints([1, 2, 4, 6])], {
        mode: "nearest",
        coordinate_transformation_mode: "asymmetric",
        nearest_mode: "floor",
      }),
  ],
];

/**
 * A sampling grid whose pixel coordinates have fractional parts in [0.15, 0.85] (away from the
 * kinks of bilinear weights), some of them outside the image.
 */
function gridAwayFromPixels(
  name: string,
  dims: number[],
  seed: number,
  height: number,
  width: number,
  alignCorners: boolean,
): CheckedInput {
  const count = dims.reduce((a, b) => a * b, 1);
  const whole = randomData(count, seed, [-1.99, 4.99]);
  const fraction = randomData(count, seed + 1, [0.15, 0.85]);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const size = i % 2 === 0 ? width : height;
    const pixel = Math.floor(whole[i]) + fraction[i];
    data[i] = alignCorners ? (2 * pixel) / (size - 1) - 1 : (2 * pixel + 1) / size - 1;
  }
  return { name, dims, data };
}

for (const [name, inputs, build] of cases) {
  Deno.test(`the ${name} gradient matches finite differences`, async () => {
    await checkGradients(inputs, build);
  });
}
