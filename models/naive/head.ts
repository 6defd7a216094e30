/**
 * Straightforward loop implementations of GLIP's head modules, written from the official code's
 * definitions independently of the graph builder, in float64: modulated deformable 3x3 conv,
 * GroupNorm, the DyConv block (three branches, scale attention with h_sigmoid, DyReLU, the
 * level-l offsets read with the smaller level's size) and the heads (box regression with the
 * per-level scale, centerness, dot-product token logits). Tests compare the exported graphs
 * with them. Slow on purpose: clarity over speed.
 *
 * @module
 */

/** A feature map [C, H, W]. */
export interface Map3 {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

/** Parameters by official name. */
export type Params = (name: string, shape: number[]) => Float32Array;

const at = (m: Map3, c: number, y: number, x: number) => m.data[(c * m.h + y) * m.w + x];

/** Bilinear sample of channel c at (y, x); points outside (-1, H) x (-1, W) read 0, border taps outside read 0. */
function bilinear(m: Map3, c: number, y: number, x: number): number {
  if (y <= -1 || y >= m.h || x <= -1 || x >= m.w) return 0;
  const y0 = Math.floor(y), x0 = Math.floor(x);
  const ly = y - y0, lx = x - x0;
  let value = 0;
  for (const [yy, wy] of [[y0, 1 - ly], [y0 + 1, ly]]) {
    for (const [xx, wx] of [[x0, 1 - lx], [x0 + 1, lx]]) {
      if (yy >= 0 && yy < m.h && xx >= 0 && xx < m.w) value += wy * wx * at(m, c, yy, xx);
    }
  }
  return value;
}

/** Modulated deformable conv 3x3, padding 1: offsets [18, Ho, Wo] as (dy, dx) per tap, mask [9, Ho, Wo]. */
export function deformConv(
  x: Map3,
  weight: Float32Array,
  bias: Float32Array,
  out: number,
  offset: Map3,
  mask: Map3,
  stride: number,
): Map3 {
  const ho = offset.h, wo = offset.w;
  const data = new Float64Array(out * ho * wo);
  for (let o = 0; o < out; o++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let sum = bias[o];
        for (let k = 0; k < 9; k++) {
          const i = Math.floor(k / 3), j = k % 3;
          const y = oy * stride - 1 + i + at(offset, 2 * k, oy, ox);
          const xx = ox * stride - 1 + j + at(offset, 2 * k + 1, oy, ox);
          const m = at(mask, k, oy, ox);
          for (let c = 0; c < x.c; c++) {
            sum += weight[((o * x.c + c) * 3 + i) * 3 + j] * m * bilinear(x, c, y, xx);
          }
        }
        data[(o * ho + oy) * wo + ox] = sum;
      }
    }
  }
  return { c: out, h: ho, w: wo, data };
}

/** A plain 2-D conv (square kernel, symmetric padding). */
export function conv(
  x: Map3,
  weight: Float32Array,
  bias: Float32Array,
  out: number,
  k: number,
  stride = 1,
  pad = 0,
): Map3 {
  const ho = Math.floor((x.h + 2 * pad - k) / stride) + 1,
    wo = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const data = new Float64Array(out * ho * wo);
  for (let o = 0; o < out; o++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let sum = bias[o];
        for (let c = 0; c < x.c; c++) {
          for (let i = 0; i < k; i++) {
            for (let j = 0; j < k; j++) {
              const y = oy * stride - pad + i, xx = ox * stride - pad + j;
              if (y >= 0 && y < x.h && xx >= 0 && xx < x.w) {
                sum += weight[((o * x.c + c) * k + i) * k + j] * at(x, c, y, xx);
              }
            }
          }
        }
        data[(o * ho + oy) * wo + ox] = sum;
      }
    }
  }
  return { c: out, h: ho, w: wo, data };
}

/** GroupNorm with torch's biased variance. */
export function groupNorm(
  x: Map3,
  groups: number,
  gamma: Float32Array,
  beta: Float32Array,
  eps = 1e-5,
): Map3 {
  const per = x.c / groups, plane = x.h * x.w;
  const data = new Float64Array(x.data.length);
  for (let g = 0; g < groups; g++) {
    const start = g * per * plane, n = per * plane;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x.data[start + i];
    mean /= n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (x.data[start + i] - mean) ** 2;
    variance /= n;
    for (let i = 0; i < n; i++) {
      const c = Math.floor((start + i) / plane);
      data[start + i] = ((x.data[start + i] - mean) / Math.sqrt(variance + eps)) * gamma[c] +
        beta[c];
    }
  }
  return { ...x, data };
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const hSigmoid = (v: number) => Math.min(Math.max(v + 3, 0), 6) / 6;

/** F.upsample_bilinear: bilinear with aligned corners. */
export function upsampleAlignCorners(x: Map3, h: number, w: number): Map3 {
  const data = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const sy = h > 1 ? (y * (x.h - 1)) / (h - 1) : 0,
          sx = w > 1 ? (xx * (x.w - 1)) / (w - 1) : 0;
        const y0 = Math.floor(sy),
          x0 = Math.floor(sx),
          y1 = Math.min(y0 + 1, x.h - 1),
          x1 = Math.min(x0 + 1, x.w - 1);
        const ly = sy - y0, lx = sx - x0;
        data[(c * h + y) * w + xx] =
          (1 - ly) * ((1 - lx) * at(x, c, y0, x0) + lx * at(x, c, y0, x1)) +
          ly * ((1 - lx) * at(x, c, y1, x0) + lx * at(x, c, y1, x1));
      }
    }
  }
  return { c: x.c, h, w, data };
}

/** The first `channels * h * w` values of a map, read as [channels, h, w] (the CUDA kernel's view). */
function flatView(m: Map3, channels: number, h: number, w: number): Map3 {
  return { c: channels, h, w, data: m.data.slice(0, channels * h * w) };
}

/** One DyConv block over the five levels. */
export function dyConvBlock(
  levels: Map3[],
  p: Params,
  name: string,
  channels: number,
  groups: number,
): Map3[] {
  const C = channels;
  const branch = (index: number, x: Map3, offset: Map3, mask: Map3, stride: number) =>
    groupNorm(
      deformConv(
        x,
        p(`${name}.DyConv.${index}.conv.weight`, [C, C, 3, 3]),
        p(`${name}.DyConv.${index}.conv.bias`, [C]),
        C,
        offset,
        mask,
        stride,
      ),
      groups,
      p(`${name}.DyConv.${index}.bn.weight`, [C]),
      p(`${name}.DyConv.${index}.bn.bias`, [C]),
    );
  return levels.map((feature, l) => {
    const om = conv(
      feature,
      p(`${name}.offset.weight`, [27, C, 3, 3]),
      p(`${name}.offset.bias`, [27]),
      27,
      3,
      1,
      1,
    );
    const plane = om.h * om.w;
    const offset: Map3 = { c: 18, h: om.h, w: om.w, data: om.data.slice(0, 18 * plane) };
    const mask: Map3 = { c: 9, h: om.h, w: om.w, data: om.data.slice(18 * plane).map(sigmoid) };
    const branches = [branch(1, feature, offset, mask, 1)];
    if (l > 0) branches.push(branch(2, levels[l - 1], offset, mask, 2));
    if (l < levels.length - 1) {
      const next = levels[l + 1];
      const small = branch(
        0,
        next,
        flatView(offset, 18, next.h, next.w),
        flatView(mask, 9, next.h, next.w),
        1,
      );
      branches.push(upsampleAlignCorners(small, feature.h, feature.w));
    }
    const attnW = p(`${name}.AttnConv.1.weight`, [1, C, 1, 1]),
      attnB = p(`${name}.AttnConv.1.bias`, [1]);
    const mean = new Float64Array(C * feature.h * feature.w);
    for (const b of branches) {
      let s = attnB[0];
      for (let c = 0; c < C; c++) {
        let avg = 0;
        for (let i = 0; i < b.h * b.w; i++) avg += b.data[c * b.h * b.w + i];
        s += attnW[c] * (avg / (b.h * b.w));
      }
      const attention = hSigmoid(Math.max(s, 0));
      for (let i = 0; i < mean.length; i++) mean[i] += (b.data[i] * attention) / branches.length;
    }
    // DyReLU: pooled -> fc 0 -> relu -> fc 2 -> h_sigmoid -> [a1 | b1 | a2 | b2]
    const squeeze = Math.max(4, Math.round(Math.floor(C / 4) / 4) * 4);
    const pooled = Array.from({ length: C }, (_, c) => {
      let s = 0;
      for (let i = 0; i < feature.h * feature.w; i++) s += mean[c * feature.h * feature.w + i];
      return s / (feature.h * feature.w);
    });
    const w0 = p(`${name}.relu.fc.0.weight`, [squeeze, C]),
      b0 = p(`${name}.relu.fc.0.bias`, [squeeze]);
    const w2 = p(`${name}.relu.fc.2.weight`, [4 * C, squeeze]),
      b2 = p(`${name}.relu.fc.2.bias`, [4 * C]);
    const hidden = Array.from(
      { length: squeeze },
      (_, j) => Math.max(0, b0[j] + pooled.reduce((s, v, c) => s + w0[j * C + c] * v, 0)),
    );
    const y = Array.from(
      { length: 4 * C },
      (_, j) => hSigmoid(b2[j] + hidden.reduce((s, v, i) => s + w2[j * squeeze + i] * v, 0)),
    );
    const data = new Float64Array(mean.length);
    for (let c = 0; c < C; c++) {
      const a1 = (y[c] - 0.5) * 2 + 1,
        b1 = y[C + c] - 0.5,
        a2 = (y[2 * C + c] - 0.5) * 2,
        b2v = y[3 * C + c] - 0.5;
      for (let i = 0; i < feature.h * feature.w; i++) {
        const v = mean[c * feature.h * feature.w + i];
        data[c * feature.h * feature.w + i] = Math.max(v * a1 + b1, v * a2 + b2v);
      }
    }
    return { c: C, h: feature.h, w: feature.w, data };
  });
}

/** The heads on the final features, with the dot product on `text` [L, D] (already offset). */
export function heads(
  levels: Map3[],
  text: Float64Array,
  L: number,
  D: number,
  p: Params,
  C: number,
  J: number,
) {
  const H = "rpn.head";
  // L2-normalize the text features, project emb / 2, token bias = emb . bias_lang + bias0
  const normalized = new Float64Array(L * D);
  for (let t = 0; t < L; t++) {
    let norm = 0;
    for (let d = 0; d < D; d++) norm += text[t * D + d] ** 2;
    norm = Math.max(Math.sqrt(norm), 1e-12);
    for (let d = 0; d < D; d++) normalized[t * D + d] = text[t * D + d] / norm;
  }
  const pw = p(`${H}.dot_product_projection_text.weight`, [J, D]),
    pb = p(`${H}.dot_product_projection_text.bias`, [J]);
  const biasLang = p(`${H}.bias_lang`, [D]),
    bias0 = p(`${H}.bias0`, [1])[0],
    logScale = p(`${H}.log_scale`, [1])[0];
  const projected = new Float64Array(L * J);
  const tokenBias = new Float64Array(L);
  for (let t = 0; t < L; t++) {
    for (let j = 0; j < J; j++) {
      let s = pb[j];
      for (let d = 0; d < D; d++) s += pw[j * D + d] * (normalized[t * D + d] / 2);
      projected[t * J + j] = s;
    }
    let b = bias0;
    for (let d = 0; d < D; d++) b += normalized[t * D + d] * biasLang[d];
    tokenBias[t] = b;
  }
  return levels.map((feature, l) => {
    const scale = p(`${H}.scales.${l}.scale`, [1])[0];
    const box = conv(
      feature,
      p(`${H}.bbox_pred.weight`, [4, C, 1, 1]),
      p(`${H}.bbox_pred.bias`, [4]),
      4,
      1,
    );
    box.data.forEach((v, i) => (box.data[i] = v * scale));
    const centerness = conv(
      feature,
      p(`${H}.centerness.weight`, [1, C, 1, 1]),
      p(`${H}.centerness.bias`, [1]),
      1,
      1,
    );
    const n = feature.h * feature.w;
    const logits = new Float64Array(n * L);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < L; t++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += feature.data[c * n + i] * projected[t * J + c];
        logits[i * L + t] = Math.min(
          Math.max(s / Math.exp(logScale) + tokenBias[t], -50000),
          50000,
        );
      }
    }
    return { box, centerness, logits };
  });
}
