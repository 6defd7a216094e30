/**
 * The layers GLIP is made of, as graph-building functions over official parameter names:
 * linear, conv, layer and group norm, GELU, multi-head attention pieces, and shape helpers for
 * dynamic image sizes.
 *
 * @module
 */
import type { Dim, GraphBuilder, Value } from "../graph/builder.ts";
import type { WeightSource } from "./weights.ts";

/** What every layer function receives. */
export interface Ctx {
  g: GraphBuilder;
  w: WeightSource;
}

const INT64_MAX = 9007199254740991;

/** Transposes a row-major [rows, cols] matrix. */
export function transposeMatrix(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

/** `x @ W^T + b` with PyTorch's Linear parameters `${name}.weight` [out, in] and `${name}.bias`. */
export function linear(
  { g, w }: Ctx,
  x: Value,
  name: string,
  inFeatures: number,
  outFeatures: number,
  options: { bias?: boolean } = {},
): Value {
  return g.scope(name, () => {
    const transposed = w.getTransposed
      ? w.getTransposed(`${name}.weight`, outFeatures, inFeatures)
      : transposeMatrix(
        w.get(`${name}.weight`, [outFeatures, inFeatures]),
        outFeatures,
        inFeatures,
      );
    const wt = g.weight(`${name}.weight`, transposed, [inFeatures, outFeatures]);
    let y = g.op("MatMul", [x, wt]);
    if (options.bias !== false) {
      y = g.op("Add", [
        y,
        g.weight(`${name}.bias`, w.get(`${name}.bias`, [outFeatures]), [outFeatures]),
      ]);
    }
    return y;
  });
}

/** LayerNorm over the last axis with `${name}.weight` / `${name}.bias`. */
export function layerNorm({ g, w }: Ctx, x: Value, name: string, dim: number, eps = 1e-5): Value {
  return g.scope(name, () =>
    g.op("LayerNormalization", [
      x,
      g.weight(`${name}.weight`, w.get(`${name}.weight`, [dim]), [dim]),
      g.weight(`${name}.bias`, w.get(`${name}.bias`, [dim]), [dim]),
    ], { axis: -1, epsilon: { float: eps } }));
}

/** GELU with erf, as PyTorch's default: 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(g: GraphBuilder, x: Value): Value {
  const erf = g.op("Erf", [g.op("Mul", [x, g.scalar(Math.SQRT1_2)])]);
  return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [erf, g.scalar(1)])]);
}

/** 2-D convolution with `${name}.weight` [out, in, k, k] and optional `${name}.bias`. */
export function conv2d(
  { g, w }: Ctx,
  x: Value,
  name: string,
  inChannels: number,
  outChannels: number,
  kernel: number,
  options: { stride?: number; padding?: number; bias?: boolean } = {},
): Value {
  return g.scope(name, () => {
    const stride = options.stride ?? 1;
    const padding = options.padding ?? 0;
    const inputs = [
      x,
      g.weight(
        `${name}.weight`,
        w.get(`${name}.weight`, [outChannels, inChannels, kernel, kernel]),
        [
          outChannels,
          inChannels,
          kernel,
          kernel,
        ],
      ),
    ];
    if (options.bias !== false) {
      inputs.push(g.weight(`${name}.bias`, w.get(`${name}.bias`, [outChannels]), [outChannels]));
    }
    return g.op("Conv", inputs, {
      kernel_shape: [kernel, kernel],
      strides: [stride, stride],
      pads: [padding, padding, padding, padding],
    });
  });
}

/**
 * GroupNorm over NCHW, written out (reshape, mean, variance) so every backend runs it the same
 * way: torch's biased variance, eps inside the square root.
 */
export function groupNorm(
  { g, w }: Ctx,
  x: Value,
  name: string,
  channels: number,
  groups: number,
  eps = 1e-5,
): Value {
  return g.scope(name, () => {
    const shape = g.op("Shape", [x]);
    const grouped = g.op("Reshape", [x, g.ints([0, groups, -1])]);
    const mean = g.op("ReduceMean", [grouped, g.ints([2])], { keepdims: 1 });
    const centered = g.op("Sub", [grouped, mean]);
    const variance = g.op("ReduceMean", [g.op("Mul", [centered, centered]), g.ints([2])], {
      keepdims: 1,
    });
    const normalized = g.op("Div", [
      centered,
      g.op("Sqrt", [g.op("Add", [variance, g.scalar(eps)])]),
    ]);
    const restored = g.op("Reshape", [normalized, shape], {}, { shape: x.shape });
    const scale = g.weight(`${name}.weight`, w.get(`${name}.weight`, [channels]), [channels, 1, 1]);
    const bias = g.weight(`${name}.bias`, w.get(`${name}.bias`, [channels]), [channels, 1, 1]);
    return g.op("Add", [g.op("Mul", [restored, scale]), bias]);
  });
}

/** A 1-D int64 value holding dimension `axis` of `x`. */
export function dimOf(g: GraphBuilder, x: Value, axis: number): Value {
  return g.op("Slice", [g.op("Shape", [x]), g.ints([axis]), g.ints([axis + 1])]);
}

/** Reshape to a shape made of constants and 1-D int64 values. */
export function reshapeTo(
  g: GraphBuilder,
  x: Value,
  parts: (number | Value)[],
  shape?: Dim[],
): Value {
  const pieces = parts.map((p) => (typeof p === "number" ? g.ints([p]) : p));
  const target = pieces.length === 1 ? pieces[0] : g.op("Concat", pieces, { axis: 0 });
  return g.op("Reshape", [x, target], {}, { shape: shape ?? null });
}

/** Slice along one axis with constant bounds (negative allowed). */
export function sliceAxis(
  g: GraphBuilder,
  x: Value,
  axis: number,
  start: number,
  end: number,
  step = 1,
): Value {
  return g.op("Slice", [x, g.ints([start]), g.ints([end]), g.ints([axis]), g.ints([step])]);
}

/** Slice along one axis from 0 to a 1-D int64 value. */
export function sliceTo(g: GraphBuilder, x: Value, axis: number, end: Value): Value {
  return g.op("Slice", [x, g.ints([0]), end, g.ints([axis])]);
}

/** `torch.roll(x, shift, axis)` for a constant shift: two slices and a concat. */
export function roll(g: GraphBuilder, x: Value, shift: number, axis: number): Value {
  if (shift === 0) return x;
  const first = sliceAxis(g, x, axis, -shift, INT64_MAX);
  const second = sliceAxis(g, x, axis, 0, -shift);
  return g.op("Concat", [first, second], { axis }, { shape: x.shape });
}

/** Softmax over the last axis. */
export function softmax(g: GraphBuilder, x: Value): Value {
  return g.op("Softmax", [x], { axis: -1 });
}

/** Clamps to [min, max]. */
export function clamp(g: GraphBuilder, x: Value, min: number, max: number): Value {
  return g.op("Clip", [x, g.scalar(min), g.scalar(max)]);
}

export { INT64_MAX };
