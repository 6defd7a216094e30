/**
 * The conformance suite every engine must pass, plugin engines included: on a bundle (the nano
 * model in the tests), each head output matches onnxruntime-node on the CPU (within 1e-3 in
 * fp32, 2e-2 in fp16), and the detections after GLIP's post-processing agree (all of the
 * reference's top 20 in fp32; 90% in fp16, where NMS may keep another member of a cluster of
 * near-equal boxes). Engines with device reduction must also reproduce their dense path exactly.
 *
 * @example
 * ```ts ignore
 * import { checkConformance } from "glip-bench/engines";
 * const report = await checkConformance(myEngineFactory, bundle);
 * if (!report.ok) throw new Error(report.failures.join("\n"));
 * ```
 *
 * @module
 */
import type { EngineFactory, EngineOptions, HeadOutput } from "./engine.ts";
import { onnxEngineFactory } from "./onnx_node/engine.ts";
import type { ModelBundle } from "../models/bundle.ts";
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import { buildPrompt } from "../models/text/prompt.ts";
import { preprocessImage } from "../models/image/preprocess.ts";
import { candidateFilter, type Detections, postprocessAtss } from "../models/post/atss.ts";
import type { RgbImage } from "../models/image/decode.ts";

/** Per-output errors and the verdict. */
export interface ConformanceReport {
  /** The engine checked. */
  engine: string;
  /** Whether it passed. */
  ok: boolean;
  /** Max absolute error per output kind, over the five levels. */
  maxAbsError: { bboxRegression: number; centerness: number; tokenLogits: number };
  /**
   * Detections of the reference and of the engine, and how many of the reference's top ones the
   * engine reproduced.
   */
  detections: { reference: number; engine: number; matched: number };
  /** Engines with device reduction: whether its detections equal the dense path's exactly. */
  deviceReductionIdentical?: boolean;
  /** What failed, one line each; empty when it passed. */
  failures: string[];
}

/** A deterministic test image: coloured shapes on a gradient (no files needed). */
export function conformanceImage(width = 224, height = 160): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      const inCircle = (x - 60) ** 2 + (y - 70) ** 2 < 30 ** 2;
      const inSquare = x > 130 && x < 190 && y > 40 && y < 100;
      rgb[p] = inCircle ? 220 : (x * 255) / width;
      rgb[p + 1] = inSquare ? 200 : (y * 255) / height;
      rgb[p + 2] = inCircle || inSquare ? 40 : 128;
    }
  }
  return { width, height, rgb };
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

function iou(a: Float32Array, i: number, b: Float32Array, j: number): number {
  const w = Math.min(a[i * 4 + 2], b[j * 4 + 2]) - Math.max(a[i * 4], b[j * 4]) + 1;
  const h = Math.min(a[i * 4 + 3], b[j * 4 + 3]) - Math.max(a[i * 4 + 1], b[j * 4 + 1]) + 1;
  if (w <= 0 || h <= 0) return 0;
  const area = (x: Float32Array, k: number) =>
    (x[k * 4 + 2] - x[k * 4] + 1) * (x[k * 4 + 3] - x[k * 4 + 1] + 1);
  return (w * h) / (area(a, i) + area(b, j) - w * h);
}

/**
 * How many of the reference's top detections the engine reproduces: same label, and in fp32
 * IoU >= 0.95 and |Δscore| <= 2e-3; in fp16 (half the mantissa, so about 1e-2 relative on the
 * logits) IoU >= 0.9 and |Δscore| <= 1e-2.
 */
export function matchDetections(
  reference: Detections,
  engine: Detections,
  fp16: boolean,
  top = 20,
): number {
  const scoreTolerance = fp16 ? 1e-2 : 2e-3;
  const minIou = fp16 ? 0.9 : 0.95;
  const order = Array.from({ length: reference.count }, (_, i) => i).sort((a, b) =>
    reference.scores[b] - reference.scores[a]
  ).slice(0, top);
  const used = new Set<number>();
  let matched = 0;
  for (const i of order) {
    for (let j = 0; j < engine.count; j++) {
      if (used.has(j) || engine.labels[j] !== reference.labels[i]) continue;
      if (Math.abs(engine.scores[j] - reference.scores[i]) > scoreTolerance) continue;
      if (iou(reference.boxes, i, engine.boxes, j) < minIou) continue;
      used.add(j);
      matched++;
      break;
    }
  }
  return matched;
}

/** Whether two detection sets are identical (count, boxes, scores, labels, in order). */
export function sameDetections(a: Detections, b: Detections): boolean {
  const same = (x: ArrayLike<number>, y: ArrayLike<number>) =>
    x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => v === y[i]);
  return a.count === b.count && same(a.boxes, b.boxes) && same(a.scores, b.scores) &&
    same(a.labels, b.labels);
}

/**
 * Runs the conformance check of `factory` on `bundle` against onnxruntime-node CPU; engines with
 * device reduction must also give exactly their dense path's detections with it.
 *
 * @example A plugin's engine against the reference, on a bundle
 * ```ts ignore
 * import { checkConformance } from "./conformance.ts";
 * import { loadBundle } from "../models/bundle.ts";
 * import { myEngineFactory } from "./my_engine.ts";
 *
 * const report = await checkConformance(myEngineFactory, await loadBundle("bundles/nano"));
 * if (!report.ok) throw new Error(report.failures.join("\n"));
 * ```
 */
export async function checkConformance(
  factory: EngineFactory,
  bundle: ModelBundle,
  options: EngineOptions = {},
): Promise<ConformanceReport> {
  const tokenizer = await loadBertTokenizer();
  const prompt = buildPrompt(tokenizer, ["circle", "square", "triangle"]);
  const pre = preprocessImage(conformanceImage(), bundle.manifest.preprocess);
  const filter = candidateFilter(prompt.positiveMapLabelToToken, bundle.manifest.postprocess);
  const run = async (
    f: EngineFactory,
    o: EngineOptions,
  ): Promise<{ head: HeadOutput; reduced?: HeadOutput }> => {
    const engine = await f.create(bundle, o);
    try {
      const image = await engine.encodeImage(pre.input);
      const text = await engine.encodeText(prompt.encoding);
      const head = await engine.runHead(image, text);
      const reduced = engine.capabilities.deviceReduction && engine.runHeadReduced
        ? await engine.runHeadReduced(image, text, filter)
        : undefined;
      image.dispose();
      text.dispose();
      return { head, reduced };
    } finally {
      await engine.dispose();
    }
  };
  const { head: reference } = await run(onnxEngineFactory, { threads: 1 });
  const { head: candidate, reduced } = await run(factory, options);
  const error = { bboxRegression: 0, centerness: 0, tokenLogits: 0 };
  const failures: string[] = [];
  reference.levels.forEach((level, l) => {
    const other = candidate.levels[l];
    if (!other || other.height !== level.height || other.width !== level.width) {
      failures.push(
        `level ${l}: size ${other?.height}x${other?.width}, expected ${level.height}x${level.width}`,
      );
      return;
    }
    error.bboxRegression = Math.max(
      error.bboxRegression,
      maxAbs(level.bboxRegression, other.bboxRegression),
    );
    error.centerness = Math.max(error.centerness, maxAbs(level.centerness, other.centerness));
    error.tokenLogits = Math.max(
      error.tokenLogits,
      level.tokenLogits && other.tokenLogits
        ? maxAbs(level.tokenLogits, other.tokenLogits)
        : Infinity,
    );
  });
  const tolerance = options.dtype === "fp16" ? 2e-2 : 1e-3;
  for (const [name, value] of Object.entries(error)) {
    if (!(value <= tolerance)) failures.push(`${name}: max abs error ${value} > ${tolerance}`);
  }
  const sizes = { resized: pre.resizedSize, original: pre.originalSize };
  const settings = bundle.manifest.postprocess;
  const refDets = postprocessAtss(reference, prompt.positiveMapLabelToToken, settings, sizes);
  const engDets = postprocessAtss(candidate, prompt.positiveMapLabelToToken, settings, sizes);
  const matched = matchDetections(refDets, engDets, options.dtype === "fp16");
  const expected = Math.min(20, refDets.count);
  // fp16 may flip which member of a cluster of near-equal boxes survives NMS: 90% must match
  const required = options.dtype === "fp16" ? Math.ceil(0.9 * expected) : expected;
  if (matched < required) {
    failures.push(
      `detections: ${matched} of the reference's top ${expected} reproduced (${required} required)`,
    );
  }
  let deviceReductionIdentical: boolean | undefined;
  if (reduced) {
    const redDets = postprocessAtss(reduced, prompt.positiveMapLabelToToken, settings, sizes);
    deviceReductionIdentical = sameDetections(engDets, redDets);
    if (!deviceReductionIdentical) {
      failures.push(
        `device reduction: ${redDets.count} detections differ from the dense path's ${engDets.count}`,
      );
    }
  }
  return {
    engine: factory.name,
    ok: failures.length === 0,
    maxAbsError: error,
    detections: { reference: refDets.count, engine: engDets.count, matched },
    ...(reduced ? { deviceReductionIdentical } : {}),
    failures,
  };
}
