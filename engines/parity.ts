/**
 * Full-size engine parity: a bundle's three graphs (text, image, head) on each engine at a given
 * input size, every output compared with onnxruntime-node on the CPU (the reference), and the
 * detections after GLIP's post-processing compared as sets. This is what `deno task conformance`
 * prints, and what `bench --check-parity` records; the result is plain JSON.
 *
 * Errors are scaled by the reference's largest magnitude, with an absolute floor: an output
 * passes when `maxAbs <= relative * max|reference| + absolute`. Engines expose their text and
 * image features through {@link FeatureReader} where they can (the onnxruntime-web engines);
 * every engine's head is compared end to end (its own features in).
 *
 * @example
 * ```ts ignore
 * import { checkEngineParity } from "glip-bench/engines/parity";
 * const result = await checkEngineParity(bundle, [webgpuFactory], { height: 800, width: 1344 });
 * if (!result.ok) console.error(result.engines.flatMap((e) => e.failures));
 * ```
 *
 * @module
 */
import { join } from "node:path";
import type { Dtype, EngineFactory, FeatureHandle, HeadOutput } from "./engine.ts";
import { UsageError } from "../core/errors.ts";
import type { ModelBundle, PreprocessSettings } from "../models/bundle.ts";
import { conformanceImage, matchDetections } from "./conformance.ts";
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import { buildPrompt } from "../models/text/prompt.ts";
import { type PreprocessedImage, preprocessImage } from "../models/image/preprocess.ts";
import { postprocessAtss } from "../models/post/atss.ts";
import { FP16_TOLERANCE, FP32_TOLERANCE, type Tolerance } from "./parity_tolerance.ts";

export { FP16_TOLERANCE, FP32_TOLERANCE, type Tolerance };

/** An engine that can read back its opaque text and image features (by graph output name). */
export interface FeatureReader {
  readFeatures(handle: FeatureHandle): Promise<Record<string, Float32Array>>;
}

/** One output of one graph, compared with the reference. */
export interface OutputComparison {
  /** The graph the output belongs to. */
  graph: "text" | "image" | "head";
  /** The output's name in the graph. */
  output: string;
  /** The output's shape. */
  dims: number[];
  /** Largest absolute difference from the reference. */
  maxAbs: number;
  /** The reference's largest magnitude. */
  scale: number;
  /** maxAbs / scale. */
  scaledError: number;
  /** Fraction of values outside the tolerance. */
  outOfTolerance: number;
  /** Whether the output is within the tolerance. */
  ok: boolean;
}

/** One engine's parity with the reference. */
export interface EngineParity {
  /** The engine compared. */
  engine: string;
  /** Its precision. */
  dtype: Dtype;
  /** The execution provider the engine reported (`describe()`); "" when it failed to load. */
  executionProvider: string;
  /** The engine's libraries and versions (`describe().libraries`, e.g. onnxruntime-web). */
  libraries: Record<string, string>;
  /** Graphs whose outputs the engine cannot read back (compared through the head only). */
  notExposed: ("text" | "image")[];
  /** Each compared output. */
  outputs: OutputComparison[];
  /**
   * Detections of the reference and of the engine, and how many of the reference's top ones matched
   * (and how many must).
   */
  detections: { reference: number; engine: number; top: number; matched: number; required: number };
  /** The tolerance applied. */
  tolerance: Tolerance;
  /** Time the engine took, in seconds. */
  seconds: number;
  /** Whether every output and the detections passed. */
  ok: boolean;
  /** What failed, one line each. */
  failures: string[];
}

/** The parity of several engines with the reference at one input size. */
export interface ParityResult {
  /** The model compared (its bundle's config name). */
  model: string;
  /** The network's input size (after padding to the size divisibility). */
  size: { height: number; width: number };
  /** The reference engine. */
  reference: string;
  /** The reference's library and version. */
  referenceLibraries: Record<string, string>;
  /** Time the reference took, in seconds. */
  referenceSeconds: number;
  /** Each engine's parity. */
  engines: EngineParity[];
  /** Whether every engine passed. */
  ok: boolean;
}

/** Options of {@link checkEngineParity}. */
export interface ParityOptions {
  /** Network input size. @default the bundle's test-time preprocessing of a 224x160 image */
  size?: { height: number; width: number };
  /** Engine precision; fp16 is compared with the fp32 reference. @default "fp32" */
  dtype?: Dtype;
  /** Tolerance of the comparison. @default FP32_TOLERANCE, or FP16_TOLERANCE for fp16 */
  tolerance?: Tolerance;
  /** Engine threads. */
  threads?: number;
  /** Let GPU engines run nodes on the CPU, as the run being checked did. @default false */
  allowCpuFallback?: boolean;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

/**
 * The conformance test image as network input of exactly `size` (up to the size divisibility's
 * padding): drawn at that size and preprocessed without resizing. Without a size, the
 * 224x160 image through the bundle's own preprocessing.
 */
export function testImageAtSize(
  preprocess: PreprocessSettings,
  size?: { height: number; width: number },
): PreprocessedImage {
  if (!size) return preprocessImage(conformanceImage(), preprocess);
  return preprocessImage(conformanceImage(size.width, size.height), {
    ...preprocess,
    minSize: Math.min(size.height, size.width),
    maxSize: Math.max(size.height, size.width),
  });
}

/**
 * The largest network input the bundle's test-time preprocessing produces: the shorter side
 * resized to `minSize`, the longer to at most `maxSize`, both padded up to the size
 * divisibility (GLIP's 800 / 1333 / 32 give 800x1344). Landscape (height <= width).
 *
 * @example
 * ```ts
 * import { largestInputSize } from "./parity.ts";
 * const size = largestInputSize({ minSize: 800, maxSize: 1333, sizeDivisibility: 32 });
 * console.assert(size.height === 800 && size.width === 1344);
 * ```
 */
export function largestInputSize(
  preprocess: Pick<PreprocessSettings, "minSize" | "maxSize" | "sizeDivisibility">,
): { height: number; width: number } {
  const pad = (n: number) => {
    const d = Math.max(1, preprocess.sizeDivisibility);
    return Math.ceil(n / d) * d;
  };
  return { height: pad(preprocess.minSize), width: pad(preprocess.maxSize) };
}

/**
 * Parses a network input size `HxW` (integers from 1 to 8192); `flag` names the option in the
 * {@link UsageError} a bad value throws, e.g. "conformance: --size".
 */
export function parseInputSize(text: string, flag: string): { height: number; width: number } {
  const match = /^(\d+)x(\d+)$/.exec(text);
  const [height, width] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  if (!match || height < 1 || width < 1 || height > 8192 || width > 8192) {
    throw new UsageError(
      `${flag} must be HxW with sizes from 1 to 8192, e.g. 800x1344 (got '${text}')`,
    );
  }
  return { height, width };
}

type Outputs = Record<string, { dims: number[]; data: Float32Array }>;

/** Compares `actual` with `reference` under `tolerance`. */
export function compareOutput(
  graph: OutputComparison["graph"],
  output: string,
  reference: { dims: number[]; data: Float32Array },
  actual: Float32Array | undefined,
  tolerance: Tolerance,
): OutputComparison {
  let scale = 0;
  for (const v of reference.data) scale = Math.max(scale, Math.abs(v));
  const bound = tolerance.relative * scale + tolerance.absolute;
  let maxAbs = 0;
  let outside = 0;
  if (!actual || actual.length !== reference.data.length) {
    maxAbs = Infinity;
    outside = reference.data.length;
  } else {
    for (let i = 0; i < actual.length; i++) {
      const diff = Math.abs(actual[i] - reference.data[i]);
      // NaN counts as out of tolerance
      if (!(diff <= bound)) outside++;
      if (!(diff <= maxAbs)) maxAbs = Number.isNaN(diff) ? Infinity : diff;
    }
  }
  return {
    graph,
    output,
    dims: reference.dims,
    maxAbs,
    scale,
    scaledError: scale > 0 ? maxAbs / scale : maxAbs,
    outOfTolerance: reference.data.length ? outside / reference.data.length : 0,
    ok: outside === 0,
  };
}

function hasFeatureReader(engine: object): engine is FeatureReader {
  return typeof (engine as Partial<FeatureReader>).readFeatures === "function";
}

/** Head outputs by graph output name. */
function headOutputs(head: HeadOutput): Record<string, Float32Array | undefined> {
  const out: Record<string, Float32Array | undefined> = {};
  head.levels.forEach((level, l) => {
    out[`bbox_reg_l${l}`] = level.bboxRegression;
    out[`centerness_l${l}`] = level.centerness;
    out[`dot_product_logits_l${l}`] = level.tokenLogits;
  });
  return out;
}

/** The reference: the bundle's graphs on onnxruntime-node CPU, every output kept. */
async function runReference(
  bundle: ModelBundle,
  feeds: {
    ids: Int32Array;
    mask: Int32Array;
    image: { data: Float32Array; height: number; width: number };
  },
  threads: number | undefined,
): Promise<
  { text: Outputs; image: Outputs; head: Outputs; headOutput: HeadOutput; version: string }
> {
  const ort = await import("onnxruntime-node");
  const m = bundle.manifest;
  const options = threads ? { intraOpNumThreads: threads } : {};
  const run = async (file: string, inputs: Record<string, import("onnxruntime-node").Tensor>) => {
    const session = await ort.InferenceSession.create(join(bundle.dir, file), options);
    try {
      const result = await session.run(inputs);
      const out: Outputs = {};
      for (const [name, tensor] of Object.entries(result)) {
        out[name] = { dims: tensor.dims.map(Number), data: tensor.data as Float32Array };
      }
      return out;
    } finally {
      await session.release();
    }
  };
  const L = m.maxQueryLength;
  const int64 = (v: Int32Array) => new ort.Tensor("int64", BigInt64Array.from(v, BigInt), [1, L]);
  const text = await run(m.graphs.text.file, {
    input_ids: int64(feeds.ids),
    attention_mask: int64(feeds.mask),
  });
  const { data, height, width } = feeds.image;
  const image = await run(m.graphs.image.file, {
    image: new ort.Tensor("float32", data, [1, 3, height, width]),
  });
  const headFile = (m.graphs.head.native ?? m.graphs.head.decomposed)!.file;
  const headFeeds: Record<string, import("onnxruntime-node").Tensor> = {
    lang_hidden: new ort.Tensor("float32", text.lang_hidden.data, text.lang_hidden.dims),
    attention_mask: int64(feeds.mask),
    prompt_offset: new ort.Tensor("float32", new Float32Array(L * m.textWidth), [
      1,
      L,
      m.textWidth,
    ]),
  };
  for (const level of [3, 4, 5, 6, 7]) {
    const t = image[`fpn_p${level}`];
    headFeeds[`fpn_p${level}`] = new ort.Tensor("float32", t.data, t.dims);
  }
  const head = await run(headFile, headFeeds);
  const headOutput: HeadOutput = {
    tokenCount: L,
    levels: [0, 1, 2, 3, 4].map((l) => ({
      height: head[`bbox_reg_l${l}`].dims[2],
      width: head[`bbox_reg_l${l}`].dims[3],
      bboxRegression: head[`bbox_reg_l${l}`].data,
      centerness: head[`centerness_l${l}`].data,
      tokenLogits: head[`dot_product_logits_l${l}`].data,
    })),
  };
  return { text, image, head, headOutput, version: String(ort.env.versions.node) };
}

/**
 * Runs text, image and head of `bundle` on each engine at the given size and compares every
 * output, and the detections, with onnxruntime-node CPU. Engines run one after another and are
 * disposed before the next is created (full-size models are large).
 */
export async function checkEngineParity(
  bundle: ModelBundle,
  factories: EngineFactory[],
  options: ParityOptions = {},
): Promise<ParityResult> {
  const log = options.log ?? (() => {});
  const dtype = options.dtype ?? "fp32";
  const tolerance = options.tolerance ?? (dtype === "fp16" ? FP16_TOLERANCE : FP32_TOLERANCE);
  const m = bundle.manifest;
  const tokenizer = await loadBertTokenizer();
  const prompt = buildPrompt(tokenizer, ["circle", "square", "triangle"]);
  const pre = testImageAtSize(m.preprocess, options.size);
  const size = { height: pre.input.height, width: pre.input.width };
  const sizes = { resized: pre.resizedSize, original: pre.originalSize };
  log(`reference: onnxruntime-node CPU at ${size.height}x${size.width}`);
  let started = performance.now();
  const reference = await runReference(bundle, {
    ids: prompt.encoding.inputIds,
    mask: prompt.encoding.attentionMask,
    image: pre.input,
  }, options.threads);
  const referenceSeconds = (performance.now() - started) / 1000;
  const refDets = postprocessAtss(
    reference.headOutput,
    prompt.positiveMapLabelToToken,
    m.postprocess,
    sizes,
  );
  const results: EngineParity[] = [];
  for (const factory of factories) {
    log(`${factory.name}${dtype === "fp16" ? " fp16" : ""} at ${size.height}x${size.width}`);
    started = performance.now();
    const failures: string[] = [];
    const outputs: OutputComparison[] = [];
    const notExposed: ("text" | "image")[] = [];
    let described = { executionProvider: "", libraries: {} as Record<string, string> };
    let detections = { reference: refDets.count, engine: 0, top: 0, matched: 0, required: 0 };
    try {
      const engine = await factory.create(bundle, {
        dtype,
        ...(options.threads ? { threads: options.threads } : {}),
        ...(options.allowCpuFallback ? { allowCpuFallback: true } : {}),
      });
      try {
        const { executionProvider, libraries } = engine.describe();
        described = { executionProvider, libraries: { ...libraries } };
        const text = await engine.encodeText(prompt.encoding);
        const image = await engine.encodeImage(pre.input);
        const stages = [["text", text, reference.text], ["image", image, reference.image]] as const;
        for (const [graph, handle, expected] of stages) {
          if (!hasFeatureReader(engine)) {
            notExposed.push(graph);
            continue;
          }
          const actual = await engine.readFeatures(handle);
          for (const [name, ref] of Object.entries(expected)) {
            // lang_embedded (hidden x mask) is not kept by the engines; lang_hidden covers it
            if (name in actual) {
              outputs.push(compareOutput(graph, name, ref, actual[name], tolerance));
            }
          }
        }
        const head = await engine.runHead(image, text);
        text.dispose();
        image.dispose();
        const actualHead = headOutputs(head);
        for (const [name, ref] of Object.entries(reference.head)) {
          outputs.push(compareOutput("head", name, ref, actualHead[name], tolerance));
        }
        const engDets = postprocessAtss(head, prompt.positiveMapLabelToToken, m.postprocess, sizes);
        const fp16 = dtype === "fp16";
        const top = Math.min(20, refDets.count);
        const matched = matchDetections(refDets, engDets, fp16, top);
        // fp16 may flip which member of a cluster of near-equal boxes survives NMS
        const required = fp16 ? Math.ceil(0.9 * top) : top;
        detections = { reference: refDets.count, engine: engDets.count, top, matched, required };
        if (matched < required) {
          failures.push(
            `detections: ${matched} of the reference's top ${top} reproduced (${required} required)`,
          );
        }
      } finally {
        await engine.dispose();
      }
    } catch (error) {
      failures.push(`${factory.name}: ${(error as Error).message}`);
    }
    for (const o of outputs.filter((o) => !o.ok)) {
      failures.push(
        `${o.graph} ${o.output} [${o.dims}]: max abs error ${o.maxAbs.toExponential(2)} (${
          o.scaledError.toExponential(2)
        } of the reference's max ${o.scale.toPrecision(3)}); ${
          o.outOfTolerance >= 1e-3
            ? (100 * o.outOfTolerance).toFixed(1)
            : (100 * o.outOfTolerance).toExponential(1)
        }% of values out of tolerance`,
      );
    }
    results.push({
      engine: factory.name,
      dtype,
      ...described,
      notExposed,
      outputs,
      detections,
      tolerance,
      seconds: (performance.now() - started) / 1000,
      ok: failures.length === 0,
      failures,
    });
  }
  return {
    model: m.configName,
    size,
    reference: "onnxruntime-node CPU (fp32)",
    referenceLibraries: { "onnxruntime-node": reference.version },
    referenceSeconds,
    engines: results,
    ok: results.every((r) => r.ok),
  };
}
