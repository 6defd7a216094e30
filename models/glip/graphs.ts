/**
 * The three graphs of a GLIP model, with the fixed I/O names of `models/bundle.ts`:
 * text encoder, image backbone + FPN, and fusion + head. With `trace`, the image and head
 * graphs also output every intermediate stage under the names the official reference uses.
 *
 * @module
 */
import { GraphBuilder } from "../graph/builder.ts";
import { languageBackbone } from "./bert.ts";
import type { GlipArchitecture } from "./config.ts";
import { fpn } from "./fpn.ts";
import { type DeformConvForm, vlDyHead } from "./head.ts";
import { swinBackbone } from "./swin.ts";
import type { WeightSource } from "./weights.ts";

/** Builds the text encoder graph. */
export function buildTextGraph(arch: GlipArchitecture, w: WeightSource): GraphBuilder {
  const g = new GraphBuilder("glip_text_encoder");
  const L = arch.maxQueryLength;
  const ids = g.input("input_ids", "int64", [1, L]);
  const mask = g.input("attention_mask", "int64", [1, L]);
  const out = languageBackbone({ g, w }, ids, mask, arch.bert, L);
  g.output(out.hidden, "lang_hidden");
  g.output(out.embedded, "lang_embedded");
  return g;
}

/** The channel counts of Swin's stage outputs. */
export function swinChannels(arch: GlipArchitecture): number[] {
  return arch.swin.depths.map((_, i) => arch.swin.embedDim * 2 ** i);
}

/** Builds the image backbone + FPN graph (input H, W multiples of 32). */
export function buildImageGraph(
  arch: GlipArchitecture,
  w: WeightSource,
  options: { trace?: boolean } = {},
): GraphBuilder {
  const g = new GraphBuilder("glip_image_backbone");
  const image = g.input("image", "float32", [1, 3, "height", "width"]);
  const stages = swinBackbone({ g, w }, image, arch.swin);
  const channels = swinChannels(arch);
  const levels = fpn({ g, w }, stages.slice(1), channels.slice(1), arch.fpnChannels);
  levels.forEach((p, i) => g.output(p, `fpn_p${i + 3}`));
  if (options.trace) stages.forEach((s, i) => g.output(s, `swin_out${i}`));
  return g;
}

/** Builds the fusion + head graph in one deformable-conv form. */
export function buildHeadGraph(
  arch: GlipArchitecture,
  w: WeightSource,
  form: DeformConvForm,
  options: { trace?: boolean } = {},
): GraphBuilder {
  const g = new GraphBuilder(`glip_fusion_head_${form}`);
  const C = arch.fpnChannels;
  const L = arch.maxQueryLength;
  const D = arch.bert.hiddenSize;
  const features = [3, 4, 5, 6, 7].map((i) =>
    g.input(`fpn_p${i}`, "float32", [1, C, `p${i}_height`, `p${i}_width`])
  );
  const langHidden = g.input("lang_hidden", "float32", [1, L, D]);
  const mask = g.input("attention_mask", "int64", [1, L]);
  const promptOffset = g.input("prompt_offset", "float32", [1, L, D]);
  const maskFloat = g.op("Cast", [mask], { to: 1 }, { dtype: "float32", shape: [1, L] });
  const out = vlDyHead({ g, w }, arch, { features, langHidden, maskFloat, promptOffset }, form);
  for (let l = 0; l < 5; l++) {
    g.output(out.bboxReg[l], `bbox_reg_l${l}`);
    g.output(out.centerness[l], `centerness_l${l}`);
    g.output(out.logits[l], `dot_product_logits_l${l}`);
  }
  if (options.trace) { for (const [name, value] of out.trace) g.output(value, name); }
  return g;
}
