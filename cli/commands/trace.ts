/**
 * `deno task trace`: every stage of a bundle as .npy, and a comparison with a reference folder.
 * @module
 */
import { join } from "node:path";
import { booleanFlag, numberFlag, parseCommandArgs, requiredFlag, stringFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, info, out, outJson } from "../output.ts";
import { InputError, UsageError } from "../../core/errors.ts";
import { loadBundle } from "../../models/bundle.ts";
import { readNpyFile, toFloat32, writeNpyFile } from "../../models/npy.ts";
import { compareWithReference, parsePositiveMap, traceBundle } from "../../models/trace.ts";
import { decodeImage } from "../../models/image/decode.ts";
import { preprocessImage } from "../../models/image/preprocess.ts";

const HELP =
  `deno task trace --model DIR (--input input.npy | --image image.png) --input-ids ids.npy
                --attention-mask mask.npy --out DIR [--compare REF_DIR] [--rtol R] [--atol A]

Examples:
  deno task export --checkpoint model.pth --glip-config config.yaml --bert-config bert_config.json \\
    --trace-outputs --out bundles/tiny
  deno task trace --model bundles/tiny --image image.png --input-ids input_ids.npy \\
    --attention-mask attention_mask.npy --positive-map positive_map.json --out trace --compare REF_DIR

Writes every stage output as .npy, named as the official reference names them (lang_hidden,
swin_out0..3, fpn_p3..p7, tower{J}_{Module}_*, fused_*, head_*_lL, dets_sorted_*). With --compare,
prints per tensor the max absolute and relative error and the first element out of tolerance
(|ours - ref| > atol + rtol |ref|), and exits 1 when any tensor is out of tolerance.

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
  --rtol R / --atol A    tolerances (default 1e-4 / 1e-5)`;

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
      rtol: { type: "string" },
      atol: { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
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
    const tolerance = {
      rtol: numberFlag("trace", parsed, "rtol", 1e-4)!,
      atol: numberFlag("trace", parsed, "atol", 1e-5)!,
    };
    const rows = await compareWithReference(traced, reference, tolerance);
    if (booleanFlag(parsed, "json")) outJson(rows);
    else {
      out(formatTable(
        ["tensor", "shape", "max abs", "max rel", "status"],
        rows.map((r) => [
          r.name,
          r.shape.join("x"),
          r.maxAbs.toExponential(2),
          r.maxRel.toExponential(2),
          r.ok ? "ok" : r.note ??
            `index ${r.firstBad!.index}: ${r.firstBad!.ours} vs ${r.firstBad!.reference}`,
        ]),
      ));
    }
    const bad = rows.filter((r) => !r.ok).length;
    info(
      `${
        rows.length - bad
      } of ${rows.length} tensors within rtol ${tolerance.rtol}, atol ${tolerance.atol}`,
    );
    return bad > 0 ? 1 : 0;
  },
};
