/**
 * `deno task trace`: every stage of a bundle as .npy, and a comparison with a reference folder.
 * @module
 */
import { join } from "node:path";
import {
  booleanFlag,
  numberFlag,
  parseCommandArgs,
  type ParsedArgs,
  requiredFlag,
  stringFlag,
} from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, info, out, outJson } from "../output.ts";
import { InputError, UsageError } from "../../core/errors.ts";
import { loadBundle } from "../../models/bundle.ts";
import { readNpyFile, toFloat32, writeNpyFile } from "../../models/npy.ts";
import {
  compareWithReference,
  detectionCuts,
  parsePositiveMap,
  type ReferenceComparison,
  traceBundle,
} from "../../models/trace.ts";
import { DEFAULT_TOLERANCE, type FidelityTolerance } from "../../models/fidelity.ts";
import { decodeImage } from "../../models/image/decode.ts";
import { preprocessImage } from "../../models/image/preprocess.ts";

const HELP =
  `deno task trace --model DIR (--input input.npy | --image image.png) --input-ids ids.npy
                --attention-mask mask.npy --out DIR [--compare REF_DIR] [--scaled-tol R] [--atol A]

Examples:
  deno task export --checkpoint model.pth --glip-config config.yaml --bert-config bert_config.json \\
    --trace-outputs --out bundles/tiny
  deno task trace --model bundles/tiny --image image.png --input-ids input_ids.npy \\
    --attention-mask attention_mask.npy --positive-map positive_map.json --out trace --compare REF_DIR

Writes every stage output as .npy, named as the official reference names them (lang_hidden,
swin_out0..3, fpn_p3..p7, tower{J}_{Module}_*, fused_*, head_*_lL, dets_sorted_*). With --compare,
judges each tensor by its largest error relative to the reference's largest magnitude: it passes
when max |ours - ref| <= atol + scaled-tol x max |ref| (float32 accumulation error grows with a
tensor's scale, not with each element). Prints per tensor the max abs error, the scaled error
(max abs / max |ref|), the mean abs error and the worst element. Detections (dets_sorted_*,
dets_th0_sorted_*) are compared as sets: each reference detection needs one of ours with the same
label, IoU >= min-iou and a score within score-tol; ranks may differ only between detections whose
reference scores are within score-tol; a detection on one side only passes only when its score is
within score-tol of the score threshold or of the per-image cut. Exits 3 when any tensor or
detection set is out of tolerance.

Options:
  --model DIR            a bundle exported with --trace-outputs
  --input FILE           preprocessed image [1,3,H,W] (.npy)
  --image FILE           start from the picture instead (checks the preprocessing too)
  --input-ids FILE       token ids [1,L] (.npy)
  --attention-mask FILE  mask [1,L] (.npy)
  --positive-map FILE    label -> tokens JSON, for the dets_* tensors
  --original-size WxH    original image size for dets_* with --input (default: the input size)
  --form F               head form: native (default) or decomposed
  --engine E             onnx (the trace runs the graphs on onnxruntime-node)
  --out DIR              output folder
  --compare DIR          reference folder of .npy files
  --scaled-tol R         largest error as a fraction of the reference's max |value| (default ${DEFAULT_TOLERANCE.scaled})
  --atol A               absolute floor added to that bound (default ${DEFAULT_TOLERANCE.atol})
  --score-tol S          detection score tolerance (default ${DEFAULT_TOLERANCE.score})
  --min-iou V            smallest IoU of matched detection boxes (default ${DEFAULT_TOLERANCE.minIoU})
  --json                 print the comparison as JSON`;

async function int64(path: string): Promise<BigInt64Array> {
  const array = await readNpyFile(path);
  if (array.data instanceof BigInt64Array) return array.data;
  return BigInt64Array.from(toFloat32(array), (v) => BigInt(Math.round(v)));
}

/** The `trace` subcommand. */
export const command: Command = {
  name: "trace",
  summary: "write every stage of a bundle as .npy and compare with a reference",
  async run(args) {
    const parsed = await parseCommandArgs("trace", args, {
      model: { type: "string" },
      input: { type: "string" },
      image: { type: "string" },
      "input-ids": { type: "string" },
      "attention-mask": { type: "string" },
      "positive-map": { type: "string" },
      "original-size": { type: "string" },
      form: { type: "string" },
      engine: { type: "string" },
      out: { type: "string" },
      compare: { type: "string" },
      "scaled-tol": { type: "string" },
      atol: { type: "string" },
      "score-tol": { type: "string" },
      "min-iou": { type: "string" },
      rtol: { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    if (stringFlag(parsed, "rtol") !== undefined) {
      throw new UsageError(
        "trace: --rtol was replaced by --scaled-tol: errors are now judged relative to the reference tensor's largest magnitude, not to each element",
      );
    }
    const tolerance = toleranceFlags(parsed);
    const engine = stringFlag(parsed, "engine") ?? "onnx";
    if (engine !== "onnx") {
      throw new UsageError(
        `trace: --engine ${engine} is not supported yet; the trace runs on onnx (compare engines with the conformance suite)`,
      );
    }
    const bundle = await loadBundle(requiredFlag("trace", parsed, "model"));
    const outDir = requiredFlag("trace", parsed, "out");
    const form = (stringFlag(parsed, "form") ?? "native") as "native" | "decomposed";
    if (form !== "native" && form !== "decomposed") {
      throw new UsageError(`trace: --form is native or decomposed (got '${form}')`);
    }
    const imagePath = stringFlag(parsed, "image");
    const inputPath = stringFlag(parsed, "input");
    if (!imagePath === !inputPath) {
      throw new UsageError("trace: give exactly one of --input FILE.npy and --image FILE");
    }
    let image: { data: Float32Array; shape: number[] };
    let sizes;
    if (imagePath) {
      const pre = preprocessImage(
        await decodeImage(await Deno.readFile(imagePath), imagePath),
        bundle.manifest.preprocess,
      );
      image = { data: pre.input.data, shape: [1, 3, pre.input.height, pre.input.width] };
      sizes = { resized: pre.resizedSize, original: pre.originalSize };
    } else {
      const array = await readNpyFile(inputPath!);
      if (array.shape.length !== 4 || array.shape[1] !== 3) {
        throw new InputError("expected a [1, 3, H, W] image", {
          file: inputPath!,
          field: "shape",
          value: array.shape,
        });
      }
      image = { data: toFloat32(array), shape: array.shape };
      const size = stringFlag(parsed, "original-size");
      const [w, h] = size ? size.split("x").map(Number) : [array.shape[3], array.shape[2]];
      sizes = {
        resized: { width: array.shape[3], height: array.shape[2] },
        original: { width: w, height: h },
      };
    }
    const mapPath = stringFlag(parsed, "positive-map");
    const positiveMap = mapPath
      ? parsePositiveMap(JSON.parse(await Deno.readTextFile(mapPath)), mapPath)
      : undefined;
    const traced = await traceBundle(bundle, {
      image,
      inputIds: await int64(requiredFlag("trace", parsed, "input-ids")),
      attentionMask: await int64(requiredFlag("trace", parsed, "attention-mask")),
      positiveMap,
      sizes,
    }, { form });
    await Deno.mkdir(outDir, { recursive: true });
    if (imagePath) traced.set("input", { shape: image.shape, data: image.data });
    for (const [name, tensor] of traced) {
      await writeNpyFile(join(outDir, `${name}.npy`), {
        dtype: "float32",
        shape: tensor.shape,
        data: tensor.data,
      });
    }
    info(`wrote ${traced.size} tensors to ${outDir}`);
    const reference = stringFlag(parsed, "compare");
    if (!reference) return 0;
    const comparison = await compareWithReference(
      traced,
      reference,
      tolerance,
      detectionCuts(bundle.manifest.postprocess),
    );
    if (booleanFlag(parsed, "json")) outJson(comparison);
    else printComparison(comparison);
    if (comparison.unreferenced.length) {
      info(`not in the reference (not compared): ${comparison.unreferenced.join(", ")}`);
    }
    if (comparison.untraced.length) {
      info(`in the reference but not traced: ${comparison.untraced.join(", ")}`);
    }
    const badTensors = comparison.tensors.filter((r) => !r.ok).length;
    const badSets = comparison.detections.filter((r) => !r.ok).length;
    info(
      `${comparison.tensors.length - badTensors} of ${comparison.tensors.length} tensors within ` +
        `atol ${tolerance.atol} + ${tolerance.scaled} x max |ref|; ` +
        `${comparison.detections.length - badSets} of ${comparison.detections.length} detection ` +
        `sets match (score within ${tolerance.score}, IoU >= ${tolerance.minIoU})`,
    );
    return comparison.ok ? 0 : 3;
  },
};

/** The gate's tolerances from the flags; each must be a finite number >= 0 (IoU at most 1). */
function toleranceFlags(parsed: ParsedArgs): FidelityTolerance {
  const read = (flag: string, fallback: number, max = Infinity) => {
    const value = numberFlag("trace", parsed, flag, fallback)!;
    if (value < 0 || value > max) {
      throw new UsageError(
        `trace: --${flag} must be between 0 and ${max} (got ${value})`,
      );
    }
    return value;
  };
  return {
    scaled: read("scaled-tol", DEFAULT_TOLERANCE.scaled),
    atol: read("atol", DEFAULT_TOLERANCE.atol),
    score: read("score-tol", DEFAULT_TOLERANCE.score),
    minIoU: read("min-iou", DEFAULT_TOLERANCE.minIoU, 1),
  };
}

const exp = (value: number) => Number.isFinite(value) ? value.toExponential(2) : String(value);

function printComparison(comparison: ReferenceComparison): void {
  out(formatTable(
    ["tensor", "shape", "max abs", "scaled err", "mean abs", "status"],
    comparison.tensors.map((r) => [
      r.name,
      r.shape.join("x"),
      exp(r.maxAbs),
      exp(r.scaledError),
      exp(r.meanAbs),
      r.ok ? "ok" : r.note ??
        `worst at ${r.worst!.index}: ${r.worst!.ours} vs ${r.worst!.reference}`,
    ]),
  ));
  if (!comparison.detections.length) return;
  out("");
  out(formatTable(
    [
      "detections",
      "ours",
      "ref",
      "matched",
      "at cut",
      "max score diff",
      "min IoU",
      "max box diff",
      "reordered",
      "status",
    ],
    comparison.detections.map((r) => [
      r.name,
      r.ours,
      r.reference,
      r.matched,
      r.atCut,
      exp(r.maxScoreDiff),
      r.minIoU.toFixed(6),
      `${exp(r.maxBoxDiff)} px`,
      r.reordered,
      r.ok ? "ok" : `${r.problems.length} problem(s)`,
    ]),
  ));
  for (const r of comparison.detections) {
    for (const line of r.problems) out(`  ${r.name}: ${line}`);
  }
}
