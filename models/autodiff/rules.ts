/**
 * Reverse-mode gradient rules, one per ONNX op the GLIP graphs and the training loss use. Each
 * rule receives the incoming gradients of a node's outputs and emits ONNX ops (into the same
 * builder) for the gradients of its float inputs. Shapes are static (see
 * `models/graph/static_shapes.ts`): a rule reduces broadcast axes, pads slices back and builds
 * interpolation matrices from the concrete sizes. Conventions follow PyTorch where a function is
 * not differentiable at a point: ties of Max/Min split the gradient in half, ReduceMax shares it
 * evenly among the maxima, Relu and Clip pass nothing at the boundary of the clipped region
 * except Clip's own inclusive bounds, Floor has no gradient.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../graph/builder.ts";
import {
  type Attributes,
  reductionAxes,
  sliceSpec,
  type StaticTensor,
} from "../graph/static_shapes.ts";
import type onnxProto from "onnx-proto";

/** What a rule sees of its node. */
export interface RuleContext {
  g: GraphBuilder;
  node: onnxProto.onnx.INodeProto;
  attrs: Attributes;
  /** The node's inputs and outputs as values (with static dims). */
  inputs: (Value | null)[];
  outputs: Value[];
  /** Static description of a value. */
  info(value: Value): StaticTensor;
  /** Whether input i needs a gradient. */
  needs(i: number): boolean;
}

/** A rule: output gradients (null where none flows) to input gradients (null for none). */
export type GradientRule = (ctx: RuleContext, grads: (Value | null)[]) => (Value | null)[];

const numel = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** Sums `grad` (of dims `from`) over broadcast axes so it has dims `to`. */
export function unbroadcast(g: GraphBuilder, grad: Value, from: number[], to: number[]): Value {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) axes.push(i);
  }
  let out = grad;
  if (axes.length) out = g.op("ReduceSum", [grad, g.ints(axes)], { keepdims: 1 });
  if (axes.length || from.length !== to.length) {
    out = g.op("Reshape", [out, g.ints(to)], {}, { shape: to });
  }
  return out;
}

const reshape = (g: GraphBuilder, x: Value, dims: number[]) =>
  g.op("Reshape", [x, g.ints(dims)], {}, { shape: dims });
const toFloat = (g: GraphBuilder, x: Value) => g.op("Cast", [x], { to: 1 }, { dtype: "float32" });

/** Gradients of a broadcasting binary op from the full-size gradients of each operand. */
function binary(ctx: RuleContext, dA: () => Value, dB: () => Value): (Value | null)[] {
  const { g, inputs, outputs } = ctx;
  const out = ctx.info(outputs[0]).dims;
  return [
    ctx.needs(0) ? unbroadcast(g, dA(), out, ctx.info(inputs[0]!).dims) : null,
    ctx.needs(1) ? unbroadcast(g, dB(), out, ctx.info(inputs[1]!).dims) : null,
  ];
}

/** Max/Min: the winner takes the gradient, ties split it in half (PyTorch's maximum). */
function extremum(ctx: RuleContext, grad: Value, winner: "Greater" | "Less"): (Value | null)[] {
  const { g, inputs } = ctx;
  const [a, b] = inputs as Value[];
  const tie = toFloat(g, g.op("Equal", [a, b]));
  const half = g.op("Mul", [tie, g.scalar(0.5)]);
  const aWins = g.op("Add", [toFloat(g, g.op(winner, [a, b])), half]);
  const bWins = g.op("Add", [toFloat(g, g.op(winner, [b, a])), half]);
  return binary(ctx, () => g.op("Mul", [grad, aWins]), () => g.op("Mul", [grad, bWins]));
}

function reshapeBack(ctx: RuleContext, grads: (Value | null)[]): (Value | null)[] {
  const [grad] = grads;
  return [reshape(ctx.g, grad!, ctx.info(ctx.inputs[0]!).dims)];
}

/** Interpolation matrix [out, in] of one axis of Resize (the modes the GLIP graphs use). */
export function resizeMatrix(
  inSize: number,
  outSize: number,
  mode: string,
  transform: string,
  nearestMode: string,
): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    let source: number;
    if (transform === "align_corners") {
      source = outSize === 1 ? 0 : (o * (inSize - 1)) / (outSize - 1);
    } else if (transform === "asymmetric") source = o * (inSize / outSize);
    else if (transform === "half_pixel") source = (o + 0.5) * (inSize / outSize) - 0.5;
    else throw new Error(`Resize gradient: coordinate_transformation_mode ${transform}`);
    if (mode === "nearest") {
      if (nearestMode !== "floor") throw new Error(`Resize gradient: nearest_mode ${nearestMode}`);
      m[o * inSize + Math.min(Math.max(Math.floor(source), 0), inSize - 1)] = 1;
    } else if (mode === "linear") {
      const s = Math.min(Math.max(source, 0), inSize - 1);
      const low = Math.floor(s);
      const high = Math.min(low + 1, inSize - 1);
      const t = s - low;
      m[o * inSize + low] += 1 - t;
      m[o * inSize + high] += t;
    } else throw new Error(`Resize gradient: mode ${mode}`);
  }
  return m;
}

function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

/** GridSample (bilinear, zeros padding) backward to the image and the grid. */
function gridSampleRule(ctx: RuleContext, grads: (Value | null)[]): (Value | null)[] {
  const { g, attrs } = ctx;
  if ((attrs.mode ?? "bilinear") !== "bilinear" || (attrs.padding_mode ?? "zeros") !== "zeros") {
    throw new Error("GridSample gradient: only bilinear sampling with zeros padding");
  }
  const align = attrs.align_corners === 1;
  const [x, grid] = ctx.inputs as Value[];
  const [N, C, H, W] = ctx.info(x).dims;
  const [, Ho, Wo] = ctx.info(grid).dims;
  const P = Ho * Wo;
  const coordinate = (axis: number, size: number) => {
    const part = reshape(
      g,
      g.op("Slice", [grid, g.ints([axis]), g.ints([axis + 1]), g.ints([3])]),
      [N, 1, P],
    );
    const plusOne = g.op("Add", [part, g.scalar(1)]);
    return align ? g.op("Mul", [plusOne, g.scalar((size - 1) / 2)]) : g.op("Div", [
      g.op("Sub", [g.op("Mul", [plusOne, g.scalar(size)]), g.scalar(1)]),
      g.scalar(2),
    ]);
  };
  const ix = coordinate(0, W);
  const iy = coordinate(1, H);
  const x0 = g.op("Floor", [ix]);
  const y0 = g.op("Floor", [iy]);
  const x1 = g.op("Add", [x0, g.scalar(1)]);
  const y1 = g.op("Add", [y0, g.scalar(1)]);
  const wx1 = g.op("Sub", [ix, x0]);
  const wy1 = g.op("Sub", [iy, y0]);
  const wx0 = g.op("Sub", [g.scalar(1), wx1]);
  const wy0 = g.op("Sub", [g.scalar(1), wy1]);
  const inside = (v: Value, size: number) =>
    g.op("And", [
      g.op("Not", [g.op("Less", [v, g.scalar(0)])]),
      g.op("Not", [g.op("Greater", [v, g.scalar(size - 1)])]),
    ]);
  const flatX = reshape(g, x, [N, C, H * W]);
  const flatG = reshape(g, grads[0]!, [N, C, P]);
  const expandC = g.ints([N, C, P]);
  const corner = (cy: Value, cx: Value) => {
    const valid = toFloat(g, g.op("And", [inside(cy, H), inside(cx, W)]));
    const clampedY = g.op("Clip", [cy, g.scalar(0), g.scalar(H - 1)]);
    const clampedX = g.op("Clip", [cx, g.scalar(0), g.scalar(W - 1)]);
    const index = g.op("Expand", [
      g.op("Cast", [g.op("Add", [g.op("Mul", [clampedY, g.scalar(W)]), clampedX])], { to: 7 }, {
        dtype: "int64",
      }),
      expandC,
    ]);
    const value = g.op("Mul", [g.op("GatherElements", [flatX, index], { axis: 2 }), valid]);
    return { valid, index, value };
  };
  const c00 = corner(y0, x0), c01 = corner(y0, x1), c10 = corner(y1, x0), c11 = corner(y1, x1);
  const out: (Value | null)[] = [null, null];
  if (ctx.needs(0)) {
    const weights = [
      [c00, g.op("Mul", [wy0, wx0])],
      [c01, g.op("Mul", [wy0, wx1])],
      [c10, g.op("Mul", [wy1, wx0])],
      [c11, g.op("Mul", [wy1, wx1])],
    ] as const;
    const indices = g.op("Concat", weights.map(([c]) => c.index), { axis: 2 });
    const updates = g.op(
      "Concat",
      weights.map(([c, w]) => g.op("Mul", [flatG, g.op("Mul", [w, c.valid])])),
      { axis: 2 },
    );
    const zeros = g.constant(new Float32Array(N * C * H * W), [N, C, H * W], "float32");
    const scattered = g.op("ScatterElements", [zeros, indices, updates], {
      axis: 2,
      reduction: "add",
    });
    out[0] = reshape(g, scattered, [N, C, H, W]);
  }
  if (ctx.needs(1)) {
    const diff = (p: Value, q: Value) => g.op("Sub", [p, q]);
    const dIx = g.op("Add", [
      g.op("Mul", [wy0, diff(c01.value, c00.value)]),
      g.op("Mul", [wy1, diff(c11.value, c10.value)]),
    ]);
    const dIy = g.op("Add", [
      g.op("Mul", [wx0, diff(c10.value, c00.value)]),
      g.op("Mul", [wx1, diff(c11.value, c01.value)]),
    ]);
    const along = (d: Value, size: number) =>
      g.op("Mul", [
        g.op("ReduceSum", [g.op("Mul", [flatG, d]), g.ints([1])], { keepdims: 0 }),
        g.scalar(align ? (size - 1) / 2 : size / 2),
      ]);
    const gx = g.op("Unsqueeze", [along(dIx, W), g.ints([2])]);
    const gy = g.op("Unsqueeze", [along(dIy, H), g.ints([2])]);
    out[1] = reshape(g, g.op("Concat", [gx, gy], { axis: 2 }), [N, Ho, Wo, 2]);
  }
  return out;
}

function convRule(ctx: RuleContext, grads: (Value | null)[]): (Value | null)[] {
  const { g, attrs } = ctx;
  const grad = grads[0]!;
  const [x, w] = ctx.inputs as Value[];
  const xDims = ctx.info(x).dims;
  const wDims = ctx.info(w).dims;
  const gDims = ctx.info(ctx.outputs[0]).dims;
  const kernel = wDims.slice(2);
  const group = (attrs.group as number | undefined) ?? 1;
  const strides = (attrs.strides as number[] | undefined) ?? kernel.map(() => 1);
  const dilations = (attrs.dilations as number[] | undefined) ?? kernel.map(() => 1);
  const pads = (attrs.pads as number[] | undefined) ?? [...kernel, ...kernel].map(() => 0);
  const out: (Value | null)[] = [null, null, null];
  if (ctx.needs(0)) {
    const outputPadding = kernel.map((k, i) =>
      xDims[2 + i] -
      (strides[i] * (gDims[2 + i] - 1) + (k - 1) * dilations[i] + 1 - pads[i] -
        pads[i + kernel.length])
    );
    if (outputPadding.some((p, i) => p < 0 || p >= Math.max(strides[i], dilations[i]))) {
      throw new Error(`Conv gradient: output padding ${outputPadding} out of range`);
    }
    out[0] = g.op("ConvTranspose", [grad, w], {
      strides,
      dilations,
      pads,
      group,
      output_padding: outputPadding,
    });
  }
  if (ctx.needs(1)) {
    if (group !== 1) throw new Error("Conv gradient: weight gradient only for group 1");
    // dW[o, i] = X[:, i] correlated with G[:, o]: a conv over the channel-major views
    const xT = g.op("Transpose", [x], { perm: [1, 0, 2, 3] });
    const gT = g.op("Transpose", [grad], { perm: [1, 0, 2, 3] });
    const full = g.op("Conv", [xT, gT], { strides: dilations, dilations: strides, pads });
    const cropped = g.op("Slice", [full, g.ints([0, 0]), g.ints(kernel), g.ints([2, 3])]);
    out[1] = g.op("Transpose", [cropped], { perm: [1, 0, 2, 3] });
  }
  if (ctx.inputs[2] && ctx.needs(2)) {
    out[2] = g.op("ReduceSum", [grad, g.ints([0, 2, 3])], { keepdims: 0 });
  }
  return out;
}

function layerNormRule(ctx: RuleContext, grads: (Value | null)[]): (Value | null)[] {
  const { g, attrs } = ctx;
  const [x, scale, bias] = ctx.inputs;
  const dims = ctx.info(x!).dims;
  const axis = (attrs.axis as number | undefined) ?? -1;
  if (axis !== -1 && axis !== dims.length - 1) {
    throw new Error("LayerNormalization gradient: axis -1 only");
  }
  const eps = (attrs.epsilon as number | undefined) ?? 1e-5;
  const grad = grads[0]!;
  const last = g.ints([-1]);
  const mean = (v: Value) => g.op("ReduceMean", [v, last], { keepdims: 1 });
  const centered = g.op("Sub", [x!, mean(x!)]);
  const variance = mean(g.op("Mul", [centered, centered]));
  const rstd = g.op("Div", [g.scalar(1), g.op("Sqrt", [g.op("Add", [variance, g.scalar(eps)])])]);
  const normalized = g.op("Mul", [centered, rstd]);
  const out: (Value | null)[] = [null, null, null];
  if (ctx.needs(0)) {
    const dNorm = g.op("Mul", [grad, scale!]);
    out[0] = g.op("Mul", [
      rstd,
      g.op("Sub", [
        g.op("Sub", [dNorm, mean(dNorm)]),
        g.op("Mul", [normalized, mean(g.op("Mul", [dNorm, normalized]))]),
      ]),
    ]);
  }
  if (ctx.needs(1)) {
    out[1] = unbroadcast(g, g.op("Mul", [grad, normalized]), dims, ctx.info(scale!).dims);
  }
  if (bias && ctx.needs(2)) out[2] = unbroadcast(g, grad, dims, ctx.info(bias).dims);
  return out;
}

function reduceRule(ctx: RuleContext, grads: (Value | null)[]): (Value | null)[] {
  const { g, node, attrs } = ctx;
  const x = ctx.inputs[0]!;
  const dims = ctx.info(x).dims;
  const axes = reductionAxes(
    node,
    dims.length,
    ctx.inputs[1] ? ctx.info(ctx.inputs[1]) : undefined,
  );
  const keptDims = dims.map((d, i) => (axes.includes(i) ? 1 : d));
  let grad = grads[0]!;
  if ((attrs.keepdims ?? 1) === 0) grad = reshape(g, grad, keptDims);
  const spread = (v: Value) => g.op("Expand", [v, g.ints(dims)]);
  switch (node.opType) {
    case "ReduceSum":
      return [spread(grad)];
    case "ReduceMean": {
      const count = numel(dims) / numel(keptDims);
      return [spread(g.op("Div", [grad, g.scalar(count)]))];
    }
    case "ReduceMax": {
      const y = reshape(g, ctx.outputs[0], keptDims);
      const winners = toFloat(g, g.op("Equal", [x, y]));
      const share = g.op("Div", [
        grad,
        g.op("ReduceSum", [winners, g.ints(axes)], { keepdims: 1 }),
      ]);
      return [g.op("Mul", [winners, share])];
    }
  }
  throw new Error(`no gradient rule for ${node.opType}`);
}

/** Pad (constant mode, non-negative pads): the gradient is the unpadded window. */
function padRule(ctx: RuleContext, [grad]: (Value | null)[]): (Value | null)[] {
  const { g, node } = ctx;
  const mode = (ctx.attrs.mode as string | undefined) ?? "constant";
  if (mode !== "constant") throw new Error(`Pad ${node.name}: no gradient for mode ${mode}`);
  const dims = ctx.info(ctx.inputs[0]!).dims;
  const pads = ctx.inputs[1] ? ctx.info(ctx.inputs[1]).values : undefined;
  if (!pads) throw new Error(`Pad ${node.name}: pads must be known statically`);
  const axesValues = ctx.inputs[3] ? ctx.info(ctx.inputs[3]).values : undefined;
  const axes = (axesValues ?? dims.map((_, i) => i)).map((a) => (a < 0 ? a + dims.length : a));
  if (pads.some((p) => p < 0)) throw new Error(`Pad ${node.name}: negative pads (cropping)`);
  const begins = axes.map((_, i) => pads[i]);
  const ends = axes.map((axis, i) => pads[i] + dims[axis]);
  return [g.op("Slice", [grad!, g.ints(begins), g.ints(ends), g.ints(axes)])];
}

/**
 * Gather: the gradient rows are added back at their indices (repeated indices accumulate), with
 * ScatterElements(add) along the gathered axis into zeros shaped like the data.
 */
function gatherRule(ctx: RuleContext, [grad]: (Value | null)[]): (Value | null)[] {
  const { g } = ctx;
  const data = ctx.inputs[0]!;
  const dims = ctx.info(data).dims;
  const indexDims = ctx.info(ctx.inputs[1]!).dims;
  const axis = (((ctx.attrs.axis as number | undefined) ?? 0) + dims.length) % dims.length;
  const count = numel(indexDims);
  const flatDims = [...dims.slice(0, axis), count, ...dims.slice(axis + 1)];
  const flatGrad = reshape(g, grad!, flatDims);
  // indices [count] placed on `axis`, broadcast over the other axes
  const indexShape = flatDims.map((d, i) => (i === axis ? d : 1));
  const indices = g.op("Expand", [
    reshape(g, g.op("Cast", [ctx.inputs[1]!], { to: 7 }, { dtype: "int64" }), indexShape),
    g.ints(flatDims),
  ]);
  const zeros = g.op("Mul", [data, g.scalar(0)]);
  return [
    g.op("ScatterElements", [zeros, indices, flatGrad], { axis, reduction: "add" }),
    null,
  ];
}

function sliceRule(ctx: RuleContext, grads: (Value | null)[]): (Value | null)[] {
  const { g } = ctx;
  const x = ctx.inputs[0]!;
  const dims = ctx.info(x).dims;
  const value = (i: number) => (ctx.inputs[i] ? ctx.info(ctx.inputs[i]!).values : undefined);
  const spec = sliceSpec(dims, value(1)!, value(2)!, value(3), value(4));
  const grad = grads[0]!;
  if (spec.every((s) => s.step === 1)) {
    const pads = new Array(2 * dims.length).fill(0);
    for (const s of spec) {
      pads[s.axis] = s.start;
      pads[s.axis + dims.length] = dims[s.axis] - s.start - s.count;
    }
    return [g.op("Pad", [grad, g.ints(pads)])];
  }
  // strided: scatter the slice back at its flat positions
  const outDims = ctx.info(ctx.outputs[0]).dims;
  const positions = new BigInt64Array(numel(outDims));
  const strides = dims.map((_, i) => numel(dims.slice(i + 1)));
  for (let flat = 0; flat < positions.length; flat++) {
    let rest = flat;
    let index = 0;
    for (let axis = dims.length - 1; axis >= 0; axis--) {
      const coord = rest % outDims[axis];
      rest = Math.floor(rest / outDims[axis]);
      const s = spec.find((t) => t.axis === axis);
      index += (s ? s.start + coord * s.step : coord) * strides[axis];
    }
    positions[flat] = BigInt(index);
  }
  const zeros = g.constant(new Float32Array(numel(dims)), [numel(dims)], "float32");
  const scattered = g.op("ScatterElements", [
    zeros,
    g.constant(positions, [positions.length], "int64"),
    reshape(g, grad, [positions.length]),
  ], { axis: 0 });
  return [reshape(g, scattered, dims)];
}

/** The rules by op type. */
export const GRADIENT_RULES: Record<string, GradientRule> = {
  Add: (ctx, [grad]) => binary(ctx, () => grad!, () => grad!),
  Sub: (ctx, [grad]) => binary(ctx, () => grad!, () => ctx.g.op("Neg", [grad!])),
  Mul: (ctx, [grad]) => {
    const [a, b] = ctx.inputs as Value[];
    return binary(ctx, () => ctx.g.op("Mul", [grad!, b]), () => ctx.g.op("Mul", [grad!, a]));
  },
  Div: (ctx, [grad]) => {
    const { g } = ctx;
    const [, b] = ctx.inputs as Value[];
    const quotient = g.op("Div", [grad!, b]);
    return binary(
      ctx,
      () => quotient,
      () => g.op("Neg", [g.op("Mul", [quotient, ctx.outputs[0]])]),
    );
  },
  Pow: (ctx, [grad]) => {
    const { g } = ctx;
    const [a, b] = ctx.inputs as Value[];
    if (ctx.needs(1)) throw new Error("Pow gradient: only for a constant exponent");
    const power = g.op("Mul", [b, g.op("Pow", [a, g.op("Sub", [b, g.scalar(1)])])]);
    return binary(ctx, () => g.op("Mul", [grad!, power]), () => grad!);
  },
  Max: (ctx, [grad]) => extremum(ctx, grad!, "Greater"),
  Min: (ctx, [grad]) => extremum(ctx, grad!, "Less"),
  Neg: (ctx, [grad]) => [ctx.g.op("Neg", [grad!])],
  Identity: (_ctx, [grad]) => [grad],
  Cast: (ctx, [grad]) => (ctx.outputs[0].dtype === "float32" ? [grad] : [null]),
  Relu: (ctx, [grad]) => [
    ctx.g.op("Mul", [
      grad!,
      toFloat(ctx.g, ctx.g.op("Greater", [ctx.inputs[0]!, ctx.g.scalar(0)])),
    ]),
  ],
  Sigmoid: (ctx, [grad]) => {
    const { g } = ctx;
    const y = ctx.outputs[0];
    return [g.op("Mul", [grad!, g.op("Mul", [y, g.op("Sub", [g.scalar(1), y])])])];
  },
  Tanh: (ctx, [grad]) => {
    const { g } = ctx;
    const y = ctx.outputs[0];
    return [g.op("Mul", [grad!, g.op("Sub", [g.scalar(1), g.op("Mul", [y, y])])])];
  },
  Exp: (ctx, [grad]) => [ctx.g.op("Mul", [grad!, ctx.outputs[0]])],
  Log: (ctx, [grad]) => [ctx.g.op("Div", [grad!, ctx.inputs[0]!])],
  Sqrt: (ctx, [grad]) => [
    ctx.g.op("Div", [grad!, ctx.g.op("Mul", [ctx.outputs[0], ctx.g.scalar(2)])]),
  ],
  // sign(x) as (x > 0) - (x < 0): ORT-web has no WebGPU Sign kernel
  Abs: (ctx, [grad]) => {
    const { g } = ctx;
    const x = ctx.inputs[0]!;
    const zero = g.scalar(0);
    const sign = g.op("Sub", [
      toFloat(g, g.op("Greater", [x, zero])),
      toFloat(g, g.op("Less", [x, zero])),
    ]);
    return [g.op("Mul", [grad!, sign])];
  },
  Erf: (ctx, [grad]) => {
    const { g } = ctx;
    const x = ctx.inputs[0]!;
    const density = g.op("Exp", [g.op("Neg", [g.op("Mul", [x, x])])]);
    return [g.op("Mul", [grad!, g.op("Mul", [density, g.scalar(2 / Math.sqrt(Math.PI))])])];
  },
  Floor: () => [null],
  Clip: (ctx, [grad]) => {
    const { g } = ctx;
    const [x, low, high] = ctx.inputs;
    let pass: Value | null = null;
    if (low) pass = g.op("Not", [g.op("Less", [x!, low])]);
    if (high) {
      const below = g.op("Not", [g.op("Greater", [x!, high])]);
      pass = pass ? g.op("And", [pass, below]) : below;
    }
    return [pass ? g.op("Mul", [grad!, toFloat(g, pass)]) : grad, null, null];
  },
  Where: (ctx, [grad]) => {
    const { g } = ctx;
    const [condition, a, b] = ctx.inputs as Value[];
    const zero = g.scalar(0);
    const out = ctx.info(ctx.outputs[0]).dims;
    return [
      null,
      ctx.needs(1)
        ? unbroadcast(g, g.op("Where", [condition, grad!, zero]), out, ctx.info(a).dims)
        : null,
      ctx.needs(2)
        ? unbroadcast(g, g.op("Where", [condition, zero, grad!]), out, ctx.info(b).dims)
        : null,
    ];
  },
  MatMul: (ctx, [grad]) => {
    const { g } = ctx;
    const [a, b] = ctx.inputs as Value[];
    const swapLast = (v: Value) => {
      const rank = ctx.info(v).dims.length;
      const perm = [...Array(rank).keys()];
      [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
      return g.op("Transpose", [v], { perm });
    };
    const gradDims = ctx.info(ctx.outputs[0]).dims;
    const batchOf = (v: Value) => [...gradDims.slice(0, -2), ...ctx.info(v).dims.slice(-2)];
    return [
      ctx.needs(0)
        ? unbroadcast(g, g.op("MatMul", [grad!, swapLast(b)]), batchOf(a), ctx.info(a).dims)
        : null,
      ctx.needs(1)
        ? unbroadcast(g, g.op("MatMul", [swapLast(a), grad!]), batchOf(b), ctx.info(b).dims)
        : null,
    ];
  },
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Flatten: reshapeBack,
  Expand: (ctx, [grad]) => [
    unbroadcast(ctx.g, grad!, ctx.info(ctx.outputs[0]).dims, ctx.info(ctx.inputs[0]!).dims),
    null,
  ],
  Transpose: (ctx, [grad]) => {
    const rank = ctx.info(ctx.inputs[0]!).dims.length;
    const perm = (ctx.attrs.perm as number[] | undefined) ?? [...Array(rank).keys()].reverse();
    const inverse = new Array(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    return [ctx.g.op("Transpose", [grad!], { perm: inverse })];
  },
  Concat: (ctx, [grad]) => {
    const { g } = ctx;
    const rank = ctx.info(ctx.outputs[0]).dims.length;
    const raw = ctx.attrs.axis as number;
    const axis = raw < 0 ? raw + rank : raw;
    const sizes = ctx.inputs.map((v) => ctx.info(v!).dims[axis]);
    const parts = g.opMulti("Split", [grad!, g.ints(sizes)], { axis }, { outputs: sizes.length });
    return parts.map((p, i) => (ctx.needs(i) ? p : null));
  },
  Slice: sliceRule,
  Pad: padRule,
  Gather: gatherRule,
  ReduceSum: reduceRule,
  ReduceMean: reduceRule,
  ReduceMax: reduceRule,
  Softmax: (ctx, [grad]) => {
    const { g } = ctx;
    const y = ctx.outputs[0];
    const axis = (ctx.attrs.axis as number | undefined) ?? -1;
    const dot = g.op("ReduceSum", [g.op("Mul", [grad!, y]), g.ints([axis])], { keepdims: 1 });
    return [g.op("Mul", [y, g.op("Sub", [grad!, dot])])];
  },
  LayerNormalization: layerNormRule,
  Conv: convRule,
  GridSample: gridSampleRule,
  Resize: (ctx, [grad]) => {
    const { g, attrs } = ctx;
    const [n, c, hIn, wIn] = ctx.info(ctx.inputs[0]!).dims;
    const [n2, c2, hOut, wOut] = ctx.info(ctx.outputs[0]).dims;
    if (n !== n2 || c !== c2) throw new Error("Resize gradient: only spatial resizing");
    const mode = (attrs.mode as string | undefined) ?? "nearest";
    const transform = (attrs.coordinate_transformation_mode as string | undefined) ?? "half_pixel";
    const nearest = (attrs.nearest_mode as string | undefined) ?? "round_prefer_floor";
    const ry = resizeMatrix(hIn, hOut, mode, transform, nearest);
    const rx = resizeMatrix(wIn, wOut, mode, transform, nearest);
    const rows = g.constant(transposed(ry, hOut, hIn), [hIn, hOut], "float32");
    const cols = g.constant(rx, [wOut, wIn], "float32");
    return [g.op("MatMul", [rows, g.op("MatMul", [grad!, cols])]), null, null, null];
  },
};
