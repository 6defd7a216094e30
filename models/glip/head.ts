/**
 * GLIP's VLDyHead: the tower of [VLFuse, BertEncoderLayer, DyConv] blocks (DyConv only for the
 * no-fusion GLIP-T(A)) and the heads: box regression with per-level scales, centerness, and the
 * dot-product token logits with `bias_lang`, `bias0`, `log_scale` and the ±50000 clamp.
 *
 * The quirks of the official code are kept (GLIP-FACTS §7.4, §10): fusion residuals on the
 * normalized inputs, image-to-text attention over every visual position including padding,
 * the text mask added as +1 / -9e15, offsets computed on level l and read with the smaller
 * size of level l+1, DyConv's bilinear upsampling with aligned corners.
 *
 * @module
 */
import type { GraphBuilder, Value } from "../graph/builder.ts";
import { bertLayer, extendedAttentionMask } from "./bert.ts";
import type { GlipArchitecture } from "./config.ts";
import {
  clamp,
  conv2d,
  type Ctx,
  dimOf,
  groupNorm,
  layerNorm,
  linear,
  reshapeTo,
  softmax,
} from "./layers.ts";

const HEAD = "rpn.head";

/** How the modulated deformable conv is written. */
export type DeformConvForm = "native" | "decomposed";

/** Inputs of the fusion + head graph. */
export interface HeadInputs {
  /** P3..P7, NCHW. */
  features: Value[];
  /** Text features [1, L, D] (BERT's last layer, unmasked). */
  langHidden: Value;
  /** Attention mask as float [1, L]. */
  maskFloat: Value;
  /** Offset [1, L, D] added to the text features before fusion (prompt tuning). */
  promptOffset: Value;
}

/** Outputs per level, plus the intermediate tensors the trace tool records. */
export interface HeadOutputs {
  bboxReg: Value[];
  centerness: Value[];
  logits: Value[];
  trace: Map<string, Value>;
}

/** Flattens NCHW to [1, H*W, C]. */
function flatten(g: GraphBuilder, x: Value): Value {
  return g.op("Transpose", [reshapeTo(g, x, [0, 0, -1])], { perm: [0, 2, 1] });
}

/** GLIP's bidirectional fusion block (`BiAttentionBlockForCheckpoint`, MHA-B). */
export function vlFuse(
  ctx: Ctx,
  arch: GlipArchitecture,
  name: string,
  visual: Value[],
  lang: Value,
  maskFloat: Value,
) {
  const { g, w } = ctx;
  const C = arch.dyhead.channels;
  const D = arch.bert.hiddenSize;
  const E = arch.dyhead.fusionEmbedDim;
  const heads = arch.dyhead.fusionHeads;
  const headDim = E / heads;
  return g.scope(name, () => {
    const prefix = `${name}.b_attn`;
    const flat = visual.map((x) => flatten(g, x));
    const sizes = flat.map((x) => dimOf(g, x, 1));
    const v = layerNorm(ctx, g.op("Concat", flat, { axis: 1 }), `${prefix}.layer_norm_v`, C);
    const l = layerNorm(ctx, lang, `${prefix}.layer_norm_l`, D);
    const split = (x: Value) =>
      g.op("Transpose", [reshapeTo(g, x, [0, 0, heads, headDim])], { perm: [0, 2, 1, 3] });
    const query = split(
      g.op("Mul", [linear(ctx, v, `${prefix}.attn.v_proj`, C, E), g.scalar(headDim ** -0.5)]),
    );
    const key = split(linear(ctx, l, `${prefix}.attn.l_proj`, D, E));
    const valueV = split(linear(ctx, v, `${prefix}.attn.values_v_proj`, C, E));
    const valueL = split(linear(ctx, l, `${prefix}.attn.values_l_proj`, D, E));
    const scores = clamp(
      g,
      g.op("MatMul", [query, g.op("Transpose", [key], { perm: [0, 1, 3, 2] })]),
      -50000,
      50000,
    );
    // text -> image: subtract the row max, clamp again, softmax over all visual positions (no mask)
    const scoresT = g.op("Transpose", [scores], { perm: [0, 1, 3, 2] });
    const shifted = g.op("Sub", [
      scoresT,
      g.op("ReduceMax", [scoresT, g.ints([-1])], { keepdims: 1 }),
    ]);
    const probsL = softmax(g, clamp(g, shifted, -50000, 50000));
    // image -> text: the mask tensor keeps 1 for real tokens and -9e15 for padding, then is added
    const maskAdd = g.op("Where", [
      g.op("Equal", [maskFloat, g.scalar(0)]),
      g.scalar(-9e15),
      maskFloat,
    ]);
    const probsV = softmax(g, g.op("Add", [scores, g.op("Unsqueeze", [maskAdd, g.ints([1, 2])])]));
    const merge = (x: Value) =>
      reshapeTo(g, g.op("Transpose", [x], { perm: [0, 2, 1, 3] }), [0, 0, E]);
    const deltaV = linear(
      ctx,
      merge(g.op("MatMul", [probsV, valueL])),
      `${prefix}.attn.out_v_proj`,
      E,
      C,
    );
    const deltaL = linear(
      ctx,
      merge(g.op("MatMul", [probsL, valueV])),
      `${prefix}.attn.out_l_proj`,
      E,
      D,
    );
    const gammaV = g.weight(`${prefix}.gamma_v`, w.get(`${prefix}.gamma_v`, [C]), [C]);
    const gammaL = g.weight(`${prefix}.gamma_l`, w.get(`${prefix}.gamma_l`, [D]), [D]);
    const newV = g.op("Add", [v, g.op("Mul", [gammaV, deltaV])]);
    const newL = g.op("Add", [l, g.op("Mul", [gammaL, deltaL])]);
    const levels: Value[] = [];
    let start: Value = g.ints([0]);
    visual.forEach((x, i) => {
      const end = g.op("Add", [start, sizes[i]]);
      const part = g.op("Slice", [newV, start, end, g.ints([1])]);
      levels.push(
        g.op("Reshape", [g.op("Transpose", [part], { perm: [0, 2, 1] }), g.op("Shape", [x])]),
      );
      start = end;
    });
    return { visual: levels, lang: newL };
  });
}

/** Bilinear sampling of x [1, C, H, W] at pixel coordinates (py, px) [1, K, Ho, Wo] per tap with GridSample. */
function sampleTaps(g: GraphBuilder, x: Value, py: Value, px: Value, h: Value, w: Value): Value {
  // align_corners = 0: normalized = (2 p + 1) / size - 1; zeros padding reproduces the kernel's
  // "outside (-1, H) x (-1, W) reads zero" rule with partial weights at the border.
  const toFloat = (v: Value) => g.op("Cast", [v], { to: 1 });
  const ny = g.op("Sub", [
    g.op("Div", [g.op("Add", [g.op("Mul", [py, g.scalar(2)]), g.scalar(1)]), toFloat(h)]),
    g.scalar(1),
  ]);
  const nx = g.op("Sub", [
    g.op("Div", [g.op("Add", [g.op("Mul", [px, g.scalar(2)]), g.scalar(1)]), toFloat(w)]),
    g.scalar(1),
  ]);
  // grid [1, K*Ho, Wo, 2] with (x, y) order
  const grid = g.op("Concat", [
    g.op("Unsqueeze", [reshapeTo(g, nx, [1, -1, 0]), g.ints([3])]),
    g.op("Unsqueeze", [reshapeTo(g, ny, [1, -1, 0]), g.ints([3])]),
  ], { axis: 3 });
  return g.op("GridSample", [x, grid], {
    align_corners: 0,
    mode: "bilinear",
    padding_mode: "zeros",
  });
}

/**
 * The modulated deformable 3x3 conv (padding 1). `offset` [1, 18, Ho, Wo] holds (dy, dx) per tap
 * k = i*3 + j; `mask` [1, 9, Ho, Wo] is already a sigmoid.
 */
function deformConv(
  ctx: Ctx,
  form: DeformConvForm,
  x: Value,
  offset: Value,
  mask: Value,
  name: string,
  channels: number,
  stride: number,
): Value {
  const { g, w } = ctx;
  return g.scope(name, () => {
    const weight = w.get(`${name}.weight`, [channels, channels, 3, 3]);
    const bias = g.weight(`${name}.bias`, w.get(`${name}.bias`, [channels]), [channels]);
    if (form === "native") {
      return g.op("DeformConv", [
        x,
        g.weight(`${name}.weight`, weight, [channels, channels, 3, 3]),
        offset,
        bias,
        mask,
      ], {
        kernel_shape: [3, 3],
        pads: [1, 1, 1, 1],
        strides: [stride, stride],
        dilations: [1, 1],
        group: 1,
        offset_group: 1,
      });
    }
    // Decomposed: base grid + offsets -> 9 GridSamples at once -> x mask -> 1x1 conv over C*9.
    const h = dimOf(g, x, 2);
    const wd = dimOf(g, x, 3);
    const ho = dimOf(g, offset, 2);
    const wo = dimOf(g, offset, 3);
    const rangeOf = (size: Value) =>
      g.op("Cast", [
        g.op("Range", [
          g.constant([0], [], "int64"),
          g.op("Squeeze", [size, g.ints([0])]),
          g.constant([1], [], "int64"),
        ]),
      ], { to: 1 });
    const baseY = g.op("Unsqueeze", [g.op("Mul", [rangeOf(ho), g.scalar(stride)]), g.ints([1])]); // [Ho,1]
    const baseX = g.op("Unsqueeze", [g.op("Mul", [rangeOf(wo), g.scalar(stride)]), g.ints([0])]); // [1,Wo]
    const tapY = g.constant([-1, -1, -1, 0, 0, 0, 1, 1, 1], [1, 9, 1, 1], "float32");
    const tapX = g.constant([-1, 0, 1, -1, 0, 1, -1, 0, 1], [1, 9, 1, 1], "float32");
    const pairs = reshapeTo(g, offset, [1, 9, 2, ho, wo]);
    const dy = g.op("Squeeze", [
      g.op("Slice", [pairs, g.ints([0]), g.ints([1]), g.ints([2])]),
      g.ints([2]),
    ]);
    const dx = g.op("Squeeze", [
      g.op("Slice", [pairs, g.ints([1]), g.ints([2]), g.ints([2])]),
      g.ints([2]),
    ]);
    const py = g.op("Add", [g.op("Add", [baseY, tapY]), dy]);
    const px = g.op("Add", [g.op("Add", [baseX, tapX]), dx]);
    const sampled = sampleTaps(g, x, py, px, h, wd); // [1, C, 9*Ho, Wo]
    const taps = reshapeTo(g, sampled, [1, channels, 9, ho, wo]);
    const modulated = g.op("Mul", [taps, g.op("Unsqueeze", [mask, g.ints([1])])]);
    const columns = reshapeTo(g, modulated, [1, channels * 9, ho, wo]);
    return g.op("Conv", [
      columns,
      g.weight(`${name}.weight`, weight, [channels, channels * 9, 1, 1]),
      bias,
    ], {
      kernel_shape: [1, 1],
    });
  });
}

/** Reads the level-l offsets as if they had the level-(l+1) size (the CUDA kernel's quirk). */
function offsetsForSmallerLevel(
  g: GraphBuilder,
  source: Value,
  channels: number,
  target: Value,
): Value {
  const h = dimOf(g, target, 2);
  const w = dimOf(g, target, 3);
  const count = g.op("Mul", [g.op("Mul", [h, w]), g.ints([channels])]);
  const flat = g.op("Slice", [reshapeTo(g, source, [-1]), g.ints([0]), count]);
  return reshapeTo(g, flat, [1, channels, h, w]);
}

/** `h_sigmoid`: relu6(x + 3) / 6. */
function hSigmoid(g: GraphBuilder, x: Value): Value {
  return g.op("Div", [
    g.op("Clip", [g.op("Add", [x, g.scalar(3)]), g.scalar(0), g.scalar(6)]),
    g.scalar(6),
  ]);
}

/** DyReLU (K2, with bias): max(x a1 + b1, x a2 + b2), coefficients [a1 | b1 | a2 | b2]. */
function dyReLU(ctx: Ctx, x: Value, name: string, channels: number): Value {
  const { g } = ctx;
  return g.scope(name, () => {
    const squeeze = Math.max(4, Math.round(Math.floor(channels / 4) / 4) * 4);
    const pooled = reshapeTo(g, g.op("ReduceMean", [x, g.ints([2, 3])], { keepdims: 0 }), [
      1,
      channels,
    ]);
    const hidden = g.op("Relu", [linear(ctx, pooled, `${name}.fc.0`, channels, squeeze)]);
    const y = hSigmoid(g, linear(ctx, hidden, `${name}.fc.2`, squeeze, 4 * channels));
    const coefficients = reshapeTo(g, y, [1, 4 * channels, 1, 1]);
    const part = (i: number) =>
      g.op("Slice", [
        coefficients,
        g.ints([i * channels]),
        g.ints([(i + 1) * channels]),
        g.ints([1]),
      ]);
    const a1 = g.op("Add", [
      g.op("Mul", [g.op("Sub", [part(0), g.scalar(0.5)]), g.scalar(2)]),
      g.scalar(1),
    ]);
    const b1 = g.op("Sub", [part(1), g.scalar(0.5)]);
    const a2 = g.op("Mul", [g.op("Sub", [part(2), g.scalar(0.5)]), g.scalar(2)]);
    const b2 = g.op("Sub", [part(3), g.scalar(0.5)]);
    return g.op("Max", [
      g.op("Add", [g.op("Mul", [x, a1]), b1]),
      g.op("Add", [g.op("Mul", [x, a2]), b2]),
    ]);
  });
}

/** One DyConv block over the five levels. */
function dyConv(
  ctx: Ctx,
  arch: GlipArchitecture,
  name: string,
  visual: Value[],
  form: DeformConvForm,
): Value[] {
  const { g } = ctx;
  const C = arch.dyhead.channels;
  return g.scope(name, () => {
    const branch = (index: number, x: Value, offset: Value, mask: Value, stride: number) =>
      groupNorm(
        ctx,
        deformConv(ctx, form, x, offset, mask, `${name}.DyConv.${index}.conv`, C, stride),
        `${name}.DyConv.${index}.bn`,
        C,
        arch.dyhead.groupNormGroups,
      );
    const attention = (x: Value) =>
      g.op("Relu", [
        conv2d(
          ctx,
          g.op("ReduceMean", [x, g.ints([2, 3])], { keepdims: 1 }),
          `${name}.AttnConv.1`,
          C,
          1,
          1,
        ),
      ]);
    return visual.map((feature, level) => {
      const offsetMask = conv2d(ctx, feature, `${name}.offset`, C, 27, 3, { padding: 1 });
      const offset = g.op("Slice", [offsetMask, g.ints([0]), g.ints([18]), g.ints([1])]);
      const mask = g.op("Sigmoid", [
        g.op("Slice", [offsetMask, g.ints([18]), g.ints([27]), g.ints([1])]),
      ]);
      const branches = [branch(1, feature, offset, mask, 1)];
      if (level > 0) branches.push(branch(2, visual[level - 1], offset, mask, 2));
      if (level < visual.length - 1) {
        const next = visual[level + 1];
        const small = branch(
          0,
          next,
          offsetsForSmallerLevel(g, offset, 18, next),
          offsetsForSmallerLevel(g, mask, 9, next),
          1,
        );
        const size = g.op("Shape", [feature]);
        branches.push(
          g.op("Resize", [small, null, null, size], {
            mode: "linear",
            coordinate_transformation_mode: "align_corners",
          }),
        );
      }
      const weighted = branches.map((b) => g.op("Mul", [b, hSigmoid(g, attention(b))]));
      let sum = weighted[0];
      for (const b of weighted.slice(1)) sum = g.op("Add", [sum, b]);
      const mean = g.op("Div", [sum, g.scalar(weighted.length)]);
      return dyReLU(ctx, mean, `${name}.relu`, C);
    });
  });
}

/** Builds the tower and heads. */
export function vlDyHead(
  ctx: Ctx,
  arch: GlipArchitecture,
  inputs: HeadInputs,
  form: DeformConvForm,
): HeadOutputs {
  const { g, w } = ctx;
  const C = arch.dyhead.channels;
  const D = arch.bert.hiddenSize;
  const trace = new Map<string, Value>();
  return g.scope(HEAD, () => {
    let visual = inputs.features;
    let lang = g.op("Add", [inputs.langHidden, inputs.promptOffset]);
    const embedded = g.op("Add", [
      g.op("Mul", [inputs.langHidden, g.op("Unsqueeze", [inputs.maskFloat, g.ints([2])])]),
      inputs.promptOffset,
    ]);
    const extended = extendedAttentionMask(ctx, inputs.maskFloat);
    let index = 0;
    for (let block = 0; block < arch.dyhead.numConvs; block++) {
      if (arch.dyhead.fusion) {
        const fused = vlFuse(
          ctx,
          arch,
          `${HEAD}.dyhead_tower.${index}`,
          visual,
          lang,
          inputs.maskFloat,
        );
        visual = fused.visual;
        lang = fused.lang;
        visual.forEach((v, l) => trace.set(`tower${index}_VLFuse_visual_l${l}`, v));
        trace.set(`tower${index}_VLFuse_lang_hidden`, lang);
        index++;
        lang = bertLayer(ctx, lang, extended, `${HEAD}.dyhead_tower.${index}`, arch.bert, {
          clampScores: true,
        });
        trace.set(`tower${index}_BertEncoderLayer_lang_hidden`, lang);
        index++;
      }
      visual = dyConv(ctx, arch, `${HEAD}.dyhead_tower.${index}`, visual, form);
      visual.forEach((v, l) => trace.set(`tower${index}_DyConv_visual_l${l}`, v));
      index++;
    }
    visual.forEach((v, l) => trace.set(`fused_visual_l${l}`, v));
    trace.set("fused_text_hidden", lang);
    // dot-product token logits
    const J = arch.dyhead.jointEmbedding;
    const source = arch.dyhead.fusedFeaturesDotProduct ? lang : embedded;
    const norm = g.op("Sqrt", [
      g.op("ReduceSum", [g.op("Mul", [source, source]), g.ints([-1])], { keepdims: 1 }),
    ]);
    const normalized = g.op("Div", [source, g.op("Max", [norm, g.scalar(1e-12)])]);
    const projected = linear(
      ctx,
      g.op("Div", [normalized, g.scalar(2)]),
      `${HEAD}.dot_product_projection_text`,
      D,
      J,
    );
    const biasLang = g.weight(`${HEAD}.bias_lang`, w.get(`${HEAD}.bias_lang`, [D]), [D, 1]);
    const bias0 = g.weight(`${HEAD}.bias0`, w.get(`${HEAD}.bias0`, [1]), [1]);
    const tokenBias = g.op("Add", [
      reshapeTo(g, g.op("MatMul", [normalized, biasLang]), [1, 1, -1]),
      bias0,
    ]); // [1,1,L]
    const logScale = g.weight(`${HEAD}.log_scale`, w.get(`${HEAD}.log_scale`, [1]), [1]);
    const projectedT = g.op("Transpose", [projected], { perm: [0, 2, 1] });
    const bboxReg: Value[] = [];
    const centerness: Value[] = [];
    const logits: Value[] = [];
    visual.forEach((feature, level) => {
      const scale = g.weight(
        `${HEAD}.scales.${level}.scale`,
        w.get(`${HEAD}.scales.${level}.scale`, [1]),
        [1],
      );
      bboxReg.push(g.op("Mul", [conv2d(ctx, feature, `${HEAD}.bbox_pred`, C, 4, 1), scale]));
      centerness.push(conv2d(ctx, feature, `${HEAD}.centerness`, C, 1, 1));
      const queries = flatten(g, feature);
      const raw = g.op("Add", [
        g.op("Div", [g.op("MatMul", [queries, projectedT]), g.op("Exp", [logScale])]),
        tokenBias,
      ]);
      logits.push(clamp(g, raw, -50000, 50000));
    });
    return { bboxReg, centerness, logits, trace };
  });
}
