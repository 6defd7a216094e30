/**
 * The Swin Transformer backbone as GLIP's `swint.py` computes it, for any input whose height
 * and width are multiples of 32: patch embedding, window attention with relative position bias,
 * shifted windows with their -100 masks (computed in the graph from the padded size), padding to
 * window multiples after `norm1` (padded tokens are zeros), patch merging in GLIP's concat order,
 * and the stage output norms.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../graph/builder.ts";
import type { GlipArchitecture } from "./config.ts";
import {
  type Ctx,
  dimOf,
  gelu,
  INT64_MAX,
  layerNorm,
  linear,
  reshapeTo,
  roll,
  sliceAxis,
  sliceTo,
  softmax,
} from "./layers.ts";

const BODY = "backbone.body";

/** Swin's relative position index for a window: [N*N] indices into the bias table. */
export function relativePositionIndex(window: number): Int32Array {
  const n = window * window;
  const index = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    const [yi, xi] = [Math.floor(i / window), i % window];
    for (let j = 0; j < n; j++) {
      const [yj, xj] = [Math.floor(j / window), j % window];
      index[i * n + j] = (yi - yj + window - 1) * (2 * window - 1) + (xi - xj + window - 1);
    }
  }
  return index;
}

/** The relative position bias [heads, N, N] gathered from the table [(2w-1)^2, heads]. */
function relativeBias(table: Float32Array, heads: number, window: number): Float32Array {
  const n = window * window;
  const index = relativePositionIndex(window);
  const bias = new Float32Array(heads * n * n);
  for (let h = 0; h < heads; h++) {
    for (let k = 0; k < n * n; k++) bias[h * n * n + k] = table[index[k] * heads + h];
  }
  return bias;
}

/**
 * The shifted-window attention mask [nW, 1, N, N] for a padded map Hp x Wp: tokens of different
 * regions get -100, as `BasicLayer.forward` builds it.
 */
function shiftedWindowMask(
  g: GraphBuilder,
  hp: Value,
  wp: Value,
  window: number,
  shift: number,
): Value {
  const regions = (size: Value) => {
    const positions = g.op("Range", [
      g.constant([0], [], "int64"),
      g.op("Squeeze", [size, g.ints([0])]),
      g.constant([1], [], "int64"),
    ]);
    const pastFirst = g.op("Cast", [
      g.op("Not", [g.op("Less", [positions, g.op("Sub", [size, g.ints([window])])])]),
    ], { to: 1 });
    const pastSecond = g.op("Cast", [
      g.op("Not", [g.op("Less", [positions, g.op("Sub", [size, g.ints([shift])])])]),
    ], { to: 1 });
    return g.op("Add", [pastFirst, pastSecond]);
  };
  const rows = g.op("Unsqueeze", [g.op("Mul", [regions(hp), g.scalar(3)]), g.ints([1])]);
  const cols = g.op("Unsqueeze", [regions(wp), g.ints([0])]);
  const ids = g.op("Add", [rows, cols]);
  const n = window * window;
  const nh = g.op("Div", [hp, g.ints([window])]);
  const nw = g.op("Div", [wp, g.ints([window])]);
  const windows = reshapeTo(
    g,
    g.op("Transpose", [reshapeTo(g, ids, [nh, window, nw, window])], { perm: [0, 2, 1, 3] }),
    [-1, n],
  );
  const difference = g.op("Sub", [
    g.op("Unsqueeze", [windows, g.ints([1])]),
    g.op("Unsqueeze", [windows, g.ints([2])]),
  ]);
  const mask = g.op("Where", [
    g.op("Equal", [difference, g.scalar(0)]),
    g.scalar(0),
    g.scalar(-100),
  ]);
  return g.op("Unsqueeze", [mask, g.ints([1])]);
}

/** One Swin block over x [1, H, W, C]. */
export function swinBlock(
  ctx: Ctx,
  x: Value,
  name: string,
  dim: number,
  heads: number,
  window: number,
  shift: number,
  mlpRatio: number,
): Value {
  const { g, w } = ctx;
  return g.scope(name, () => {
    const h = dimOf(g, x, 1);
    const wd = dimOf(g, x, 2);
    const padOf = (size: Value) =>
      g.op("Mod", [
        g.op("Sub", [g.ints([window]), g.op("Mod", [size, g.ints([window])])]),
        g.ints([window]),
      ]);
    const padB = padOf(h);
    const padR = padOf(wd);
    let y = layerNorm(ctx, x, `${name}.norm1`, dim);
    const zero = g.ints([0]);
    y = g.op("Pad", [
      y,
      g.op("Concat", [zero, zero, zero, zero, zero, padB, padR, zero], { axis: 0 }),
    ]);
    const hp = g.op("Add", [h, padB]);
    const wp = g.op("Add", [wd, padR]);
    if (shift > 0) y = roll(g, roll(g, y, -shift, 1), -shift, 2);
    const nh = g.op("Div", [hp, g.ints([window])]);
    const nw = g.op("Div", [wp, g.ints([window])]);
    const n = window * window;
    const windows = reshapeTo(
      g,
      g.op("Transpose", [reshapeTo(g, y, [1, nh, window, nw, window, dim])], {
        perm: [0, 1, 3, 2, 4, 5],
      }),
      [-1, n, dim],
      [null, n, dim],
    );
    // window attention
    const headDim = dim / heads;
    const qkv = linear(ctx, windows, `${name}.attn.qkv`, dim, 3 * dim);
    const split = g.op("Transpose", [reshapeTo(g, qkv, [-1, n, 3, heads, headDim])], {
      perm: [2, 0, 3, 1, 4],
    });
    // Slice + Squeeze rather than Gather: onnxruntime-web's WebGPU provider runs Slice on the GPU.
    const pick = (i: number) => g.op("Squeeze", [sliceAxis(g, split, 0, i, i + 1), g.ints([0])]);
    const q = g.op("Mul", [pick(0), g.scalar(headDim ** -0.5)]);
    const k = pick(1);
    const v = pick(2);
    let attn = g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
    // an exported bundle holds the bias already expanded from the table
    const expanded = `${name}.attn.relative_position_bias`;
    const bias = w.has?.(expanded) ? w.get(expanded, [heads, n, n]) : relativeBias(
      w.get(`${name}.attn.relative_position_bias_table`, [(2 * window - 1) ** 2, heads]),
      heads,
      window,
    );
    attn = g.op("Add", [attn, g.weight(expanded, bias, [heads, n, n])]);
    if (shift > 0) attn = g.op("Add", [attn, shiftedWindowMask(g, hp, wp, window, shift)]);
    const context = g.op("MatMul", [softmax(g, attn), v]);
    const merged = reshapeTo(g, g.op("Transpose", [context], { perm: [0, 2, 1, 3] }), [-1, n, dim]);
    const projected = linear(ctx, merged, `${name}.attn.proj`, dim, dim);
    // window reverse, unshift, unpad
    let z = reshapeTo(
      g,
      g.op("Transpose", [reshapeTo(g, projected, [1, nh, nw, window, window, dim])], {
        perm: [0, 1, 3, 2, 4, 5],
      }),
      [1, hp, wp, dim],
    );
    if (shift > 0) z = roll(g, roll(g, z, shift, 1), shift, 2);
    z = sliceTo(g, sliceTo(g, z, 1, h), 2, wd);
    const residual = g.op("Add", [x, z]);
    const hidden = Math.round(dim * mlpRatio);
    const mlp = linear(
      ctx,
      gelu(
        g,
        linear(ctx, layerNorm(ctx, residual, `${name}.norm2`, dim), `${name}.mlp.fc1`, dim, hidden),
      ),
      `${name}.mlp.fc2`,
      hidden,
      dim,
    );
    return g.op("Add", [residual, mlp]);
  });
}

/** Patch merging over [1, H, W, C] (H, W even): concat x0, x1, x2, x3, norm, reduce to 2C. */
export function patchMerging(ctx: Ctx, x: Value, name: string, dim: number): Value {
  const { g } = ctx;
  return g.scope(name, () => {
    const part = (dy: number, dx: number) =>
      sliceAxis(g, sliceAxis(g, x, 1, dy, INT64_MAX, 2), 2, dx, INT64_MAX, 2);
    const merged = g.op("Concat", [part(0, 0), part(1, 0), part(0, 1), part(1, 1)], { axis: 3 });
    return linear(
      ctx,
      layerNorm(ctx, merged, `${name}.norm`, 4 * dim),
      `${name}.reduction`,
      4 * dim,
      2 * dim,
      { bias: false },
    );
  });
}

/**
 * The Swin backbone: image [1, 3, H, W] (H, W multiples of 32) to the four stage outputs in
 * NCHW (stage 0 without an output norm, as GLIP's RETINANET variant).
 */
export function swinBackbone(ctx: Ctx, image: Value, swin: GlipArchitecture["swin"]): Value[] {
  const { g } = ctx;
  return g.scope(BODY, () => {
    const C = swin.embedDim;
    const patches = g.op("Conv", [
      image,
      g.weight(
        `${BODY}.patch_embed.proj.weight`,
        ctx.w.get(`${BODY}.patch_embed.proj.weight`, [C, 3, swin.patchSize, swin.patchSize]),
        [C, 3, swin.patchSize, swin.patchSize],
      ),
      g.weight(`${BODY}.patch_embed.proj.bias`, ctx.w.get(`${BODY}.patch_embed.proj.bias`, [C]), [
        C,
      ]),
    ], {
      kernel_shape: [swin.patchSize, swin.patchSize],
      strides: [swin.patchSize, swin.patchSize],
    });
    let x = layerNorm(
      ctx,
      g.op("Transpose", [patches], { perm: [0, 2, 3, 1] }),
      `${BODY}.patch_embed.norm`,
      C,
    );
    const outputs: Value[] = [];
    let dim = C;
    for (let stage = 0; stage < swin.depths.length; stage++) {
      for (let b = 0; b < swin.depths[stage]; b++) {
        const shift = b % 2 === 1 ? Math.floor(swin.windowSize / 2) : 0;
        x = swinBlock(
          ctx,
          x,
          `${BODY}.layers.${stage}.blocks.${b}`,
          dim,
          swin.numHeads[stage],
          swin.windowSize,
          shift,
          swin.mlpRatio,
        );
      }
      const out = stage === 0 ? x : layerNorm(ctx, x, `${BODY}.norm${stage}`, dim);
      outputs.push(g.op("Transpose", [out], { perm: [0, 3, 1, 2] }));
      if (stage < swin.depths.length - 1) {
        x = patchMerging(ctx, x, `${BODY}.layers.${stage}.downsample`, dim);
        dim *= 2;
      }
    }
    return outputs;
  });
}
