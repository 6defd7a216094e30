/**
 * Straightforward float64 references of GLIP's transformer modules, written from the official
 * code's definitions with plain loops and no graph: the Swin block (window attention with the
 * relative position bias, the cyclic shift and its -100 region mask, zero padding to window
 * multiples after norm1), patch merging (x0, x1, x2, x3 order), a BERT layer (the -10000
 * extended mask, GLIP's optional ±50000 score clamp) and the bidirectional fusion block
 * (BiMultiHeadAttention with its clamps, the row-max shift on the text side, the image side's
 * +1 / -9e15 mask, gated residuals on the normalized inputs). The tests compare the exported
 * graphs with them (tests/model/naive_modules_test.ts).
 *
 * Tensors are token-major: a [N, C] matrix is `data[n * C + c]`.
 *
 * @module
 */
import type { Params } from "./head.ts";

/** A token-major matrix. */
export interface Tokens {
  n: number;
  c: number;
  data: Float64Array;
}

/** erf to about 1e-15 (series near 0, continued fraction beyond). */
export function erf(x: number): number {
  const z = Math.abs(x);
  let result: number;
  if (z < 2.5) {
    // Maclaurin series: 2/sqrt(pi) * sum (-1)^n z^(2n+1) / (n! (2n+1))
    let term = z;
    let sum = z;
    for (let n = 1; n < 100; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    result = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz)
    const tiny = 1e-300;
    let f = z;
    let c = z;
    let d = 0;
    for (let n = 1; n < 200; n++) {
      const a = n / 2;
      d = z + a * d;
      d = d === 0 ? tiny : 1 / d;
      c = z + a / c;
      if (c === 0) c = tiny;
      const delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    result = 1 - Math.exp(-z * z) / (f * Math.sqrt(Math.PI));
  }
  return x < 0 ? -result : result;
}

const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

function layerNorm(x: Tokens, weight: Float32Array, bias: Float32Array, eps: number): Tokens {
  const out = new Float64Array(x.data.length);
  for (let n = 0; n < x.n; n++) {
    let mean = 0;
    for (let c = 0; c < x.c; c++) mean += x.data[n * x.c + c];
    mean /= x.c;
    let variance = 0;
    for (let c = 0; c < x.c; c++) variance += (x.data[n * x.c + c] - mean) ** 2;
    variance /= x.c;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < x.c; c++) {
      out[n * x.c + c] = (x.data[n * x.c + c] - mean) * inv * weight[c] + bias[c];
    }
  }
  return { n: x.n, c: x.c, data: out };
}

/** PyTorch Linear: y = x W^T + b with W [out, in]. */
function linear(x: Tokens, weight: Float32Array, bias: Float32Array | null, out: number): Tokens {
  const y = new Float64Array(x.n * out);
  for (let n = 0; n < x.n; n++) {
    for (let o = 0; o < out; o++) {
      let sum = bias ? bias[o] : 0;
      for (let i = 0; i < x.c; i++) sum += x.data[n * x.c + i] * weight[o * x.c + i];
      y[n * out + o] = sum;
    }
  }
  return { n: x.n, c: out, data: y };
}

function linearNamed(p: Params, x: Tokens, name: string, out: number, bias = true): Tokens {
  return linear(
    x,
    p(`${name}.weight`, [out, x.c]),
    bias ? p(`${name}.bias`, [out]) : null,
    out,
  );
}

function norm(p: Params, x: Tokens, name: string, eps: number): Tokens {
  return layerNorm(x, p(`${name}.weight`, [x.c]), p(`${name}.bias`, [x.c]), eps);
}

function add(a: Tokens, b: Tokens): Tokens {
  return { n: a.n, c: a.c, data: a.data.map((v, i) => v + b.data[i]) };
}

/** Softmax of `row` in place. */
function softmaxInPlace(row: Float64Array): void {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += row[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) row[i] /= sum;
}

/**
 * Multi-head attention over token sets: scores(h, i, j) = q_i . k_j (q already scaled) plus
 * `bias(h, i, j)`, softmax over j, then the values; heads concatenated head-major.
 */
function attend(
  q: Tokens,
  k: Tokens,
  v: Tokens,
  heads: number,
  bias: (h: number, i: number, j: number, score: number) => number,
): Tokens {
  const headDim = q.c / heads;
  const out = new Float64Array(q.n * v.c);
  const row = new Float64Array(k.n);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < q.n; i++) {
      for (let j = 0; j < k.n; j++) {
        let s = 0;
        for (let d = 0; d < headDim; d++) {
          s += q.data[i * q.c + h * headDim + d] * k.data[j * k.c + h * headDim + d];
        }
        row[j] = bias(h, i, j, s);
      }
      softmaxInPlace(row);
      for (let d = 0; d < headDim; d++) {
        let s = 0;
        for (let j = 0; j < k.n; j++) s += row[j] * v.data[j * v.c + h * headDim + d];
        out[i * v.c + h * headDim + d] = s;
      }
    }
  }
  return { n: q.n, c: v.c, data: out };
}

/** One Swin block over an H x W map (token-major [H*W, C]), as GLIP's `SwinTransformerBlock`. */
export function swinBlock(
  x: Tokens,
  height: number,
  width: number,
  p: Params,
  name: string,
  heads: number,
  window: number,
  shift: number,
  mlpRatio = 4,
): Tokens {
  const C = x.c;
  const y = norm(p, x, `${name}.norm1`, 1e-5);
  const hp = Math.ceil(height / window) * window;
  const wp = Math.ceil(width / window) * window;
  // padded (zeros after norm1), then rolled by -shift: shifted(r, c) = padded(r + s, c + s)
  const at = (r: number, c: number) => {
    const rr = (r + shift) % hp;
    const cc = (c + shift) % wp;
    return rr < height && cc < width ? rr * width + cc : -1;
  };
  const region = (position: number, size: number) =>
    shift === 0 ? 0 : position < size - window ? 0 : position < size - shift ? 1 : 2;
  const n = window * window;
  const table = p(`${name}.attn.relative_position_bias_table`, [(2 * window - 1) ** 2, heads]);
  const headDim = C / heads;
  const out = new Float64Array(hp * wp * C);
  for (let wy = 0; wy < hp / window; wy++) {
    for (let wx = 0; wx < wp / window; wx++) {
      const tokens: Tokens = { n, c: C, data: new Float64Array(n * C) };
      const ids: number[] = [];
      for (let t = 0; t < n; t++) {
        const r = wy * window + Math.floor(t / window);
        const c = wx * window + (t % window);
        const source = at(r, c);
        if (source >= 0) tokens.data.set(y.data.subarray(source * C, (source + 1) * C), t * C);
        ids.push(3 * region(r, hp) + region(c, wp));
      }
      const qkv = linearNamed(p, tokens, `${name}.attn.qkv`, 3 * C);
      const part = (which: number) => {
        const m = new Float64Array(n * C);
        for (let t = 0; t < n; t++) {
          for (let c = 0; c < C; c++) m[t * C + c] = qkv.data[t * 3 * C + which * C + c];
        }
        return { n, c: C, data: m };
      };
      const q = part(0);
      q.data = q.data.map((v) => v * headDim ** -0.5);
      const attended = attend(q, part(1), part(2), heads, (h, i, j, score) => {
        const [yi, xi, yj, xj] = [
          Math.floor(i / window),
          i % window,
          Math.floor(j / window),
          j % window,
        ];
        const index = (yi - yj + window - 1) * (2 * window - 1) + (xi - xj + window - 1);
        return score + table[index * heads + h] + (ids[i] === ids[j] ? 0 : -100);
      });
      const projected = linearNamed(p, attended, `${name}.attn.proj`, C);
      for (let t = 0; t < n; t++) {
        const r = wy * window + Math.floor(t / window);
        const c = wx * window + (t % window);
        out.set(projected.data.subarray(t * C, (t + 1) * C), (r * wp + c) * C);
      }
    }
  }
  // roll back by +shift and crop: z(r, c) = shifted(r - s, c - s)
  const z = new Float64Array(height * width * C);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const sr = (r - shift + hp) % hp;
      const sc = (c - shift + wp) % wp;
      z.set(out.subarray((sr * wp + sc) * C, (sr * wp + sc + 1) * C), (r * width + c) * C);
    }
  }
  const residual = add(x, { n: x.n, c: C, data: z });
  const hidden = Math.round(C * mlpRatio);
  const inner = linearNamed(p, norm(p, residual, `${name}.norm2`, 1e-5), `${name}.mlp.fc1`, hidden);
  inner.data = inner.data.map(gelu);
  return add(residual, linearNamed(p, inner, `${name}.mlp.fc2`, C));
}

/** Patch merging of an H x W map (H, W even): [x0 | x1 | x2 | x3], norm, reduction to 2C. */
export function patchMerging(
  x: Tokens,
  height: number,
  width: number,
  p: Params,
  name: string,
): Tokens {
  const C = x.c;
  const h2 = height / 2;
  const w2 = width / 2;
  const merged: Tokens = { n: h2 * w2, c: 4 * C, data: new Float64Array(h2 * w2 * 4 * C) };
  const offsets = [[0, 0], [1, 0], [0, 1], [1, 1]]; // x0 (even, even), x1 (odd row), x2, x3
  for (let r = 0; r < h2; r++) {
    for (let c = 0; c < w2; c++) {
      offsets.forEach(([dy, dx], k) => {
        const source = ((2 * r + dy) * width + 2 * c + dx) * C;
        merged.data.set(x.data.subarray(source, source + C), (r * w2 + c) * 4 * C + k * C);
      });
    }
  }
  return linearNamed(p, norm(p, merged, `${name}.norm`, 1e-5), `${name}.reduction`, 2 * C, false);
}

/** One BERT layer over [L, D] with a 0/1 mask; `clampScores` is GLIP's ±50000 clamp. */
export function bertLayer(
  hidden: Tokens,
  mask: number[],
  p: Params,
  name: string,
  heads: number,
  intermediate: number,
  eps: number,
  clampScores = false,
): Tokens {
  const D = hidden.c;
  const q = linearNamed(p, hidden, `${name}.attention.self.query`, D);
  q.data = q.data.map((v) => v / Math.sqrt(D / heads));
  const k = linearNamed(p, hidden, `${name}.attention.self.key`, D);
  const v = linearNamed(p, hidden, `${name}.attention.self.value`, D);
  const context = attend(q, k, v, heads, (_h, _i, j, score) => {
    const s = clampScores ? Math.min(Math.max(score, -50000), 50000) : score;
    return s + (1 - mask[j]) * -10000;
  });
  const attended = norm(
    p,
    add(linearNamed(p, context, `${name}.attention.output.dense`, D), hidden),
    `${name}.attention.output.LayerNorm`,
    eps,
  );
  const inner = linearNamed(p, attended, `${name}.intermediate.dense`, intermediate);
  inner.data = inner.data.map(gelu);
  return norm(
    p,
    add(linearNamed(p, inner, `${name}.output.dense`, D), attended),
    `${name}.output.LayerNorm`,
    eps,
  );
}

/**
 * GLIP's fusion block over the concatenated visual tokens [Nv, C] and the text [L, D] with its
 * 0/1 mask; returns the new visual tokens and text.
 */
export function fusionBlock(
  visual: Tokens,
  lang: Tokens,
  mask: number[],
  p: Params,
  name: string,
  embed: number,
  heads: number,
): { visual: Tokens; lang: Tokens } {
  const prefix = `${name}.b_attn`;
  const v = norm(p, visual, `${prefix}.layer_norm_v`, 1e-5);
  const l = norm(p, lang, `${prefix}.layer_norm_l`, 1e-5);
  const headDim = embed / heads;
  const query = linearNamed(p, v, `${prefix}.attn.v_proj`, embed);
  query.data = query.data.map((x) => x * headDim ** -0.5);
  const key = linearNamed(p, l, `${prefix}.attn.l_proj`, embed);
  const valueV = linearNamed(p, v, `${prefix}.attn.values_v_proj`, embed);
  const valueL = linearNamed(p, l, `${prefix}.attn.values_l_proj`, embed);
  const clamp = (x: number) => Math.min(Math.max(x, -50000), 50000);
  // image -> text: clamp, add the mask (1 for real tokens, -9e15 for padding), softmax over text
  const maskAdd = mask.map((m) => (m === 0 ? -9e15 : m));
  const toText = attend(query, key, valueL, heads, (_h, _i, j, s) => clamp(s) + maskAdd[j]);
  // text -> image: scores transposed, clamp, minus the row max, clamp, softmax over all pixels
  const scoresT = (h: number, j: number) => {
    const row = new Float64Array(v.n);
    for (let i = 0; i < v.n; i++) {
      let s = 0;
      for (let d = 0; d < headDim; d++) {
        s += query.data[i * embed + h * headDim + d] * key.data[j * embed + h * headDim + d];
      }
      row[i] = clamp(s);
    }
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    return row.map((x) => clamp(x - max));
  };
  const toImage = new Float64Array(l.n * embed);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < l.n; j++) {
      const row = scoresT(h, j);
      softmaxInPlace(row);
      for (let d = 0; d < headDim; d++) {
        let s = 0;
        for (let i = 0; i < v.n; i++) s += row[i] * valueV.data[i * embed + h * headDim + d];
        toImage[j * embed + h * headDim + d] = s;
      }
    }
  }
  const deltaV = linearNamed(p, toText, `${prefix}.attn.out_v_proj`, visual.c);
  const deltaL = linearNamed(
    p,
    { n: l.n, c: embed, data: toImage },
    `${prefix}.attn.out_l_proj`,
    lang.c,
  );
  const gammaV = p(`${prefix}.gamma_v`, [visual.c]);
  const gammaL = p(`${prefix}.gamma_l`, [lang.c]);
  return {
    visual: {
      n: v.n,
      c: v.c,
      data: v.data.map((x, i) => x + gammaV[i % v.c] * deltaV.data[i]),
    },
    lang: { n: l.n, c: l.c, data: l.data.map((x, i) => x + gammaL[i % l.c] * deltaL.data[i]) },
  };
}
