/**
 * BERT as GLIP uses it: the language backbone (Hugging Face `BertModel`, last layer) and the
 * single BERT layers inside the fusion tower (GLIP's `modeling_bert.py`, which clamps the
 * attention scores to ±50000).
 *
 * @module
 */
import type { Value } from "../graph/builder.ts";
import type { GlipArchitecture } from "./config.ts";
import { clamp, type Ctx, gelu, layerNorm, linear, reshapeTo, softmax } from "./layers.ts";

/** The additive attention mask of HF's `get_extended_attention_mask`: (1 - mask) * -10000, [1,1,1,L]. */
export function extendedAttentionMask(ctx: Ctx, maskFloat: Value): Value {
  const { g } = ctx;
  const inverted = g.op("Sub", [g.scalar(1), maskFloat]);
  const additive = g.op("Mul", [inverted, g.scalar(-10000)]);
  return g.op("Unsqueeze", [additive, g.ints([1, 2])]);
}

/**
 * One BERT layer over [1, L, D] with an additive mask [1,1,1,L]. `clampScores` reproduces
 * GLIP's clamp of the scaled scores to ±50000 before the mask is added.
 */
export function bertLayer(
  ctx: Ctx,
  hidden: Value,
  extendedMask: Value,
  name: string,
  bert: GlipArchitecture["bert"],
  options: { clampScores?: boolean } = {},
): Value {
  const { g } = ctx;
  const D = bert.hiddenSize;
  const heads = bert.numHeads;
  const headDim = D / heads;
  return g.scope(name, () => {
    const L = hidden.shape?.[1] ?? null;
    const split = (x: Value) =>
      g.op("Transpose", [reshapeTo(g, x, [0, 0, heads, headDim], [1, L, heads, headDim])], {
        perm: [0, 2, 1, 3],
      });
    const q = split(linear(ctx, hidden, `${name}.attention.self.query`, D, D));
    const k = split(linear(ctx, hidden, `${name}.attention.self.key`, D, D));
    const v = split(linear(ctx, hidden, `${name}.attention.self.value`, D, D));
    let scores = g.op("MatMul", [q, g.op("Transpose", [k], { perm: [0, 1, 3, 2] })]);
    scores = g.op("Div", [scores, g.scalar(Math.sqrt(headDim))]);
    if (options.clampScores) scores = clamp(g, scores, -50000, 50000);
    scores = g.op("Add", [scores, extendedMask]);
    const context = g.op("MatMul", [softmax(g, scores), v]);
    const merged = reshapeTo(g, g.op("Transpose", [context], { perm: [0, 2, 1, 3] }), [0, 0, D], [
      1,
      L,
      D,
    ]);
    const attended = layerNorm(
      ctx,
      g.op("Add", [linear(ctx, merged, `${name}.attention.output.dense`, D, D), hidden]),
      `${name}.attention.output.LayerNorm`,
      D,
      bert.layerNormEps,
    );
    const intermediate = gelu(
      g,
      linear(ctx, attended, `${name}.intermediate.dense`, D, bert.intermediateSize),
    );
    return layerNorm(
      ctx,
      g.op("Add", [
        linear(ctx, intermediate, `${name}.output.dense`, bert.intermediateSize, D),
        attended,
      ]),
      `${name}.output.LayerNorm`,
      D,
      bert.layerNormEps,
    );
  });
}

/**
 * The language backbone: token ids and mask ([1, L] int64) to `lang_hidden` (last layer,
 * unmasked) and `lang_embedded` (hidden x mask), as GLIP's `BertEncoder` returns them.
 */
export function languageBackbone(
  ctx: Ctx,
  inputIds: Value,
  attentionMask: Value,
  bert: GlipArchitecture["bert"],
  maxLength: number,
): { hidden: Value; embedded: Value; maskFloat: Value } {
  const { g, w } = ctx;
  const prefix = "language_backbone.body.model";
  const D = bert.hiddenSize;
  return g.scope(prefix, () => {
    const words = g.weight(
      `${prefix}.embeddings.word_embeddings.weight`,
      w.get(`${prefix}.embeddings.word_embeddings.weight`, [bert.vocabSize, D]),
      [bert.vocabSize, D],
    );
    // the rows the graph uses, stored under their own names (an exported bundle holds only them)
    const positionsName = `${prefix}.embeddings.position_embeddings.weight[:${maxLength}]`;
    const positions = g.weight(
      positionsName,
      w.has?.(positionsName)
        ? w.get(positionsName, [maxLength, D])
        : w.get(`${prefix}.embeddings.position_embeddings.weight`, [bert.maxPositions, D])
          .slice(0, maxLength * D),
      [maxLength, D],
    );
    const tokenTypeName = `${prefix}.embeddings.token_type_embeddings.weight[0]`;
    const tokenType0 = g.weight(
      tokenTypeName,
      w.has?.(tokenTypeName)
        ? w.get(tokenTypeName, [D])
        : w.get(`${prefix}.embeddings.token_type_embeddings.weight`, [bert.typeVocabSize, D])
          .slice(0, D),
      [D],
    );
    const embedded = g.op("Add", [
      g.op("Add", [
        g.op("Gather", [words, inputIds], { axis: 0 }, { shape: [1, maxLength, D] }),
        positions,
      ]),
      tokenType0,
    ]);
    let hidden = layerNorm(ctx, embedded, `${prefix}.embeddings.LayerNorm`, D, bert.layerNormEps);
    const maskFloat = g.op("Cast", [attentionMask], { to: 1 }, {
      shape: [1, maxLength],
      dtype: "float32",
    });
    const extended = extendedAttentionMask(ctx, maskFloat);
    for (let i = 0; i < bert.numLayers; i++) {
      hidden = bertLayer(ctx, hidden, extended, `${prefix}.encoder.layer.${i}`, bert);
    }
    const maskedHidden = g.op("Mul", [hidden, g.op("Unsqueeze", [maskFloat, g.ints([2])])]);
    return { hidden, embedded: maskedHidden, maskFloat };
  });
}
