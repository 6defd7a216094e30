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
import type { DeformConvForm, GraphFile, ModelBundle, PostprocessSettings } from "./bundle.ts";
import { checkedGraphFiles } from "./bundle_files.ts";
import {
  compareDetections,
  compareTensor,
  DEFAULT_TOLERANCE,
  type DetectionComparison,
  detectionCount,
  type DetectionCut,
  type FidelityTolerance,
  type TensorComparison,
} from "./fidelity.ts";
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
  for (const [label, tokens] of inputs.positiveMap ?? []) {
    const outside = tokens.find((t) => !(t >= 0 && t < m.maxQueryLength));
    if (outside !== undefined) {
      throw new RangeError(
        `positive map: label ${label} names token ${outside}, outside the ${m.maxQueryLength}-token query`,
      );
    }
  }
  const ort: typeof OrtTypes = await import("onnxruntime-node");
  const form = options.form ?? "native";
  const headFile = m.graphs.head[form];
  if (!headFile) {
    throw new InputError(`no '${form}' head graph in the bundle`, { file: bundle.dir });
  }
  // checked paths and verified bytes (models/bundle_files.ts)
  const open = async (graph: GraphFile) =>
    ort.InferenceSession.create((await checkedGraphFiles(bundle, graph)).model);
  const [text, image, head] = await Promise.all([
    open(m.graphs.text),
    open(m.graphs.image),
    open(headFile),
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

/** The detection sets a trace writes, by prefix: the post-processing settings' cut and no threshold. */
export function detectionCuts(settings: PostprocessSettings): Record<string, DetectionCut> {
  return {
    dets: {
      scoreThreshold: settings.scoreThreshold,
      detectionsPerImage: settings.detectionsPerImage,
    },
    dets_th0: { scoreThreshold: 0, detectionsPerImage: settings.detectionsPerImage },
  };
}

/** A trace compared with a reference folder. */
export interface ReferenceComparison {
  /** Every traced tensor with a reference file, by name (detection tensors excepted). */
  tensors: TensorComparison[];
  /** Every traced detection set with reference scores, compared as a set. */
  detections: DetectionComparison[];
  /** Traced tensors the reference folder has no file for. */
  unreferenced: string[];
  /** Reference `.npy` files that no traced tensor corresponds to. */
  untraced: string[];
  /** Every tensor and every detection set within tolerance. */
  ok: boolean;
}

const DETECTION_FIELDS = ["boxes", "boxes_resized", "scores", "labels"] as const;

async function readReference(path: string): Promise<NpyArray | undefined> {
  try {
    return await readNpyFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Compares traced tensors with the `.npy` files of a reference folder (see models/fidelity.ts
 * for the gate): each tensor by its error relative to the reference's largest magnitude, each
 * `${prefix}_sorted_*` group as a set of detections. Names present on one side only are listed.
 *
 * @param cuts the score threshold and per-image limit of each detection prefix
 *   ({@link detectionCuts}); without one, every unmatched detection fails
 * @throws {InputError} when the folder cannot be read or a reference detection set is
 *   incomplete or inconsistent
 */
export async function compareWithReference(
  traced: Map<string, TracedTensor>,
  referenceDir: string,
  tolerance: FidelityTolerance = DEFAULT_TOLERANCE,
  cuts: Record<string, DetectionCut> = {},
): Promise<ReferenceComparison> {
  const referenceNames = new Set<string>();
  try {
    for await (const entry of Deno.readDir(referenceDir)) {
      if (entry.isFile && entry.name.endsWith(".npy")) referenceNames.add(entry.name.slice(0, -4));
    }
  } catch (error) {
    throw new InputError(`cannot read the reference folder (${(error as Error).message})`, {
      file: referenceDir,
    });
  }
  const prefixes = [...traced.keys()].filter((name) => name.endsWith("_sorted_scores")).map((
    name,
  ) => name.slice(0, -"_sorted_scores".length)).sort();
  const detectionTensor = new Set(
    prefixes.flatMap((prefix) => DETECTION_FIELDS.map((field) => `${prefix}_sorted_${field}`)),
  );
  const tensors: TensorComparison[] = [];
  const unreferenced: string[] = [];
  const used = new Set<string>();
  for (const [name, ours] of [...traced].sort(([a], [b]) => a.localeCompare(b))) {
    if (detectionTensor.has(name)) continue;
    if (!referenceNames.has(name)) {
      unreferenced.push(name);
      continue;
    }
    used.add(name);
    const reference = await readNpyFile(join(referenceDir, `${name}.npy`));
    tensors.push(
      compareTensor(name, ours, { shape: reference.shape, data: toFloat32(reference) }, tolerance),
    );
  }
  const detections: DetectionComparison[] = [];
  for (const prefix of prefixes) {
    const name = (field: string) => `${prefix}_sorted_${field}`;
    if (!referenceNames.has(name("scores"))) {
      unreferenced.push(...DETECTION_FIELDS.map(name).filter((n) => traced.has(n)));
      continue;
    }
    const read = async (field: (typeof DETECTION_FIELDS)[number]) => {
      const file = join(referenceDir, `${name(field)}.npy`);
      const array = await readReference(file);
      if (array) used.add(name(field));
      return array ? { file, data: toFloat32(array) } : undefined;
    };
    const [boxes, boxesResized, scores, labels] = await Promise.all(DETECTION_FIELDS.map(read));
    for (const [field, value] of [["boxes", boxes], ["labels", labels]] as const) {
      if (!value) {
        throw new InputError(
          `the reference has ${name("scores")}.npy but no ${name(field)}.npy`,
          { file: referenceDir },
        );
      }
    }
    const reference = {
      boxes: boxes!.data,
      boxesResized: boxesResized?.data,
      scores: scores!.data,
      labels: labels!.data,
    };
    try {
      detectionCount(reference);
    } catch (error) {
      throw new InputError(`inconsistent reference detections: ${(error as Error).message}`, {
        file: join(referenceDir, `${name("*")}.npy`),
      });
    }
    const ours = {
      boxes: traced.get(name("boxes"))!.data,
      boxesResized: reference.boxesResized ? traced.get(name("boxes_resized"))?.data : undefined,
      scores: traced.get(name("scores"))!.data,
      labels: traced.get(name("labels"))!.data,
    };
    detections.push(compareDetections(prefix, ours, reference, tolerance, cuts[prefix]));
  }
  const untraced = [...referenceNames].filter((n) => !used.has(n)).sort();
  return {
    tensors,
    detections,
    unreferenced,
    untraced,
    ok: tensors.every((row) => row.ok) && detections.every((row) => row.ok),
  };
}

/**
 * Reads a positive map from JSON: `{"1": [1], ...}` or GLIP's `{positive_map_label_to_token: {...}}`.
 * Labels are positive integers and tokens non-negative integers; a label with an empty token
 * list is left out, as GLIP's `create_positive_dict` leaves out a label that maps to no token
 * (older `deno task prompt --json` output wrote such labels with `[]`).
 */
export function parsePositiveMap(json: unknown, file: string): Map<number, number[]> {
  const object = (json as { positive_map_label_to_token?: unknown })?.positive_map_label_to_token ??
    json;
  if (!object || typeof object !== "object" || Array.isArray(object)) {
    throw new InputError("expected an object label -> tokens", { file });
  }
  const map = new Map<number, number[]>();
  for (const [label, tokens] of Object.entries(object as Record<string, unknown>)) {
    if (!/^[1-9][0-9]*$/.test(label)) {
      throw new InputError("labels are positive integers", { file, field: label, value: label });
    }
    if (
      !Array.isArray(tokens) ||
      !tokens.every((t) => Number.isSafeInteger(t) && (t as number) >= 0)
    ) {
      throw new InputError("expected a list of token indices (integers >= 0)", {
        file,
        field: label,
        value: tokens,
      });
    }
    if (tokens.length > 0) map.set(Number(label), tokens as number[]);
  }
  return map;
}
