/**
 * Stage-by-stage traces of a bundle, named as the official GLIP reference names them
 * (`lang_hidden`, `swin_out0..3`, `fpn_p3..p7`, `tower{J}_{Module}_*`, `fused_*`, `head_*_lL`,
 * `dets_*`), and their comparison with a reference folder of `.npy` files.
 *
 * @module
 */
import { join } from "node:path";
import type * as OrtTypes from "onnxruntime-node";
import { InputError } from "../core/errors.ts";
import type { DeformConvForm, ModelBundle } from "./bundle.ts";
import { type NpyArray, readNpyFile, toFloat32 } from "./npy.ts";
import { type Detections, postprocessAtss } from "./post/atss.ts";
import { turnOffOnnxRuntimeTelemetry } from "../core/onnxruntime_telemetry.ts";

turnOffOnnxRuntimeTelemetry();

/** One traced tensor. */
export interface TracedTensor {
  shape: number[];
  data: Float32Array;
}

/** Inputs of a trace. */
export interface TraceInputs {
  /** The preprocessed image [1, 3, H, W]. */
  image: { data: Float32Array; shape: number[] };
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  /** label -> tokens, for the `dets_*` tensors. */
  positiveMap?: Map<number, number[]>;
  /** Sizes for the detections: resized (unpadded) and original. */
  sizes?: {
    resized: { width: number; height: number };
    original: { width: number; height: number };
  };
}

/**
 * Detections as `${prefix}_sorted_*` tensors, sorted by score (stable). The unsorted order of
 * the official CUDA kernel depends on an unsorted top-k, so only sorted detections are compared.
 */
function detectionTensors(prefix: string, d: Detections, into: Map<string, TracedTensor>) {
  const order = Array.from({ length: d.count }, (_, i) => i).sort((a, b) =>
    d.scores[b] - d.scores[a] || a - b
  );
  const pick = (source: Float32Array, width: number) => {
    const out = new Float32Array(order.length * width);
    order.forEach((i, o) => out.set(source.subarray(i * width, i * width + width), o * width));
    return out;
  };
  into.set(`${prefix}_sorted_boxes`, { shape: [d.count, 4], data: pick(d.boxes, 4) });
  into.set(`${prefix}_sorted_boxes_resized`, {
    shape: [d.count, 4],
    data: pick(d.boxesResized, 4),
  });
  into.set(`${prefix}_sorted_scores`, { shape: [d.count], data: pick(d.scores, 1) });
  into.set(`${prefix}_sorted_labels`, {
    shape: [d.count],
    data: pick(Float32Array.from(d.labels), 1),
  });
}

/**
 * Runs the three graphs of a bundle exported with trace outputs on onnxruntime-node and
 * returns every stage, plus detections when a positive map and sizes are given.
 */
export async function traceBundle(
  bundle: ModelBundle,
  inputs: TraceInputs,
  options: { form?: DeformConvForm } = {},
): Promise<Map<string, TracedTensor>> {
  const m = bundle.manifest;
  if (!(m.architecture as { trace?: boolean }).trace) {
    throw new InputError(
      "this bundle was exported without intermediate outputs; re-export it with 'deno task export ... --trace-outputs'",
      { file: join(bundle.dir, "manifest.json") },
    );
  }
  const ort: typeof OrtTypes = await import("onnxruntime-node");
  const form = options.form ?? "native";
  const headFile = m.graphs.head[form];
  if (!headFile) {
    throw new InputError(`no '${form}' head graph in the bundle`, { file: bundle.dir });
  }
  const open = (file: string) => ort.InferenceSession.create(join(bundle.dir, file));
  const [text, image, head] = await Promise.all([
    open(m.graphs.text.file),
    open(m.graphs.image.file),
    open(headFile.file),
  ]);
  const traced = new Map<string, TracedTensor>();
  const keep = (result: OrtTypes.InferenceSession.OnnxValueMapType) => {
    for (const [name, tensor] of Object.entries(result)) {
      traced.set(name, { shape: tensor.dims.map(Number), data: tensor.data as Float32Array });
    }
  };
  const L = m.maxQueryLength;
  const ids = new ort.Tensor("int64", inputs.inputIds, [1, L]);
  const mask = new ort.Tensor("int64", inputs.attentionMask, [1, L]);
  const textOut = await text.run({ input_ids: ids, attention_mask: mask });
  keep(textOut);
  const imageOut = await image.run({
    image: new ort.Tensor("float32", inputs.image.data, inputs.image.shape),
  });
  keep(imageOut);
  const feeds: Record<string, OrtTypes.Tensor> = {
    lang_hidden: textOut.lang_hidden,
    attention_mask: mask,
    prompt_offset: new ort.Tensor("float32", new Float32Array(L * m.textWidth), [
      1,
      L,
      m.textWidth,
    ]),
  };
  for (const i of [3, 4, 5, 6, 7]) feeds[`fpn_p${i}`] = imageOut[`fpn_p${i}`];
  const headOut = await head.run(feeds);
  for (const [name, tensor] of Object.entries(headOut)) {
    const renamed = /^(bbox_reg|centerness|dot_product_logits)_l\d$/.test(name)
      ? `head_${name}`
      : name;
    traced.set(renamed, { shape: tensor.dims.map(Number), data: tensor.data as Float32Array });
  }
  await Promise.all([text.release(), image.release(), head.release()]);
  if (inputs.positiveMap && inputs.sizes) {
    const levels = [0, 1, 2, 3, 4].map((l) => {
      const box = traced.get(`head_bbox_reg_l${l}`)!;
      return {
        height: box.shape[2],
        width: box.shape[3],
        bboxRegression: box.data,
        centerness: traced.get(`head_centerness_l${l}`)!.data,
        tokenLogits: traced.get(`head_dot_product_logits_l${l}`)!.data,
      };
    });
    const output = { tokenCount: L, levels };
    detectionTensors(
      "dets",
      postprocessAtss(output, inputs.positiveMap, m.postprocess, inputs.sizes),
      traced,
    );
    detectionTensors(
      "dets_th0",
      postprocessAtss(
        output,
        inputs.positiveMap,
        { ...m.postprocess, scoreThreshold: 0 },
        inputs.sizes,
      ),
      traced,
    );
  }
  return traced;
}

/** One row of a comparison. */
export interface ComparisonRow {
  name: string;
  shape: number[];
  maxAbs: number;
  maxRel: number;
  /** First element out of tolerance: index, ours, reference. */
  firstBad?: { index: number; ours: number; reference: number };
  ok: boolean;
  note?: string;
}

/**
 * Compares traced tensors with the `.npy` files of a reference folder: an element is within
 * tolerance when |ours - ref| <= atol + rtol * |ref| (numpy's allclose). Tensors missing on
 * either side are reported, not skipped silently.
 */
export async function compareWithReference(
  traced: Map<string, TracedTensor>,
  referenceDir: string,
  tolerance: { rtol: number; atol: number },
): Promise<ComparisonRow[]> {
  const rows: ComparisonRow[] = [];
  for (const [name, ours] of [...traced].sort(([a], [b]) => a.localeCompare(b))) {
    let reference: NpyArray;
    try {
      reference = await readNpyFile(join(referenceDir, `${name}.npy`));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    const ref = toFloat32(reference);
    if (ref.length !== ours.data.length) {
      rows.push({
        name,
        shape: ours.shape,
        maxAbs: Infinity,
        maxRel: Infinity,
        ok: false,
        note: `shape [${ours.shape}] vs reference [${reference.shape}]`,
      });
      continue;
    }
    let maxAbs = 0;
    let maxRel = 0;
    let firstBad: ComparisonRow["firstBad"];
    for (let i = 0; i < ref.length; i++) {
      const diff = Math.abs(ours.data[i] - ref[i]);
      maxAbs = Math.max(maxAbs, diff);
      if (ref[i] !== 0) maxRel = Math.max(maxRel, diff / Math.abs(ref[i]));
      if (!firstBad && !(diff <= tolerance.atol + tolerance.rtol * Math.abs(ref[i]))) {
        firstBad = { index: i, ours: ours.data[i], reference: ref[i] };
      }
    }
    rows.push({ name, shape: ours.shape, maxAbs, maxRel, firstBad, ok: !firstBad });
  }
  return rows;
}

/** Reads a positive map from JSON: `{"1": [1], ...}` or GLIP's `{positive_map_label_to_token: {...}}`. */
export function parsePositiveMap(json: unknown, file: string): Map<number, number[]> {
  const object = (json as { positive_map_label_to_token?: unknown })?.positive_map_label_to_token ??
    json;
  if (!object || typeof object !== "object") {
    throw new InputError("expected an object label -> tokens", { file });
  }
  const map = new Map<number, number[]>();
  for (const [label, tokens] of Object.entries(object as Record<string, unknown>)) {
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) {
      throw new InputError("expected a list of token indices", {
        file,
        field: label,
        value: tokens,
      });
    }
    map.set(Number(label), tokens as number[]);
  }
  return map;
}
