/**
 * The files a finished benchmark run leaves besides its detections: the run record (`run.json`),
 * each task's detections in its evaluator's format, and the ODinW leaderboard submission.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { EngineDescription } from "../engines/engine.ts";
import type { BenchModel } from "./bench_inputs.ts";
import { type FewShotSubmission, writeSubmission, type ZeroShotSubmission } from "./leaderboard.ts";
import { gitCommit, machineDescription, sha256Hex, SUITE_VERSION } from "./provenance.ts";
import { RUN_RECORD_SCHEMA, RUN_RECORD_VERSION, type RunRecord } from "./run_record.ts";
import { groundingPredictions, type PreparedTask, storedDetections } from "./runner.ts";
import { bundleSha256Of, type RunFingerprint } from "./run_fingerprint.ts";
import type { Shard } from "./shard.ts";
import type { SegmentTimings } from "./run_segments.ts";
import type { DetectionTask } from "./suite.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";
import { sha256File } from "../core/hash.ts";
import { DEFAULT_MAX_IMAGE_PIXELS, maxImagePixels } from "../models/image/decode.ts";

/** What a run record is built from. */
export interface RunRecordInput {
  suite: string;
  protocol: string;
  model: BenchModel;
  engineDescription: EngineDescription;
  prepared: PreparedTask[];
  taskResults: RunRecord["tasks"];
  /** Timings summed over every segment of the run. */
  timings: SegmentTimings;
  rootPath: string;
  demo: boolean;
  shard?: Shard;
  limit?: number;
  prompt: string;
  /** Annotation files for the data hash when `prepared` is empty. */
  annotationFiles?: string[];
  /** What produced the results (also in the run folder's fingerprint.json). */
  fingerprint?: RunFingerprint;
  /** The command line recorded as provenance. */
  command: string[];
  /** `--reference KEY`: the published model the user says this checkpoint is. */
  reference?: string;
}

/**
 * The image pixel limit as a run record holds it: nothing at PIL's default, else
 * `{ maxImagePixels }` (`"none"` for no limit). The limit decides which images are refused (the
 * run fails on them), never a number, so it is recorded but not part of the fingerprint.
 *
 * @example
 * ```ts
 * import { pixelLimitSetting } from "./bench_record.ts";
 * console.assert(pixelLimitSetting(1000).maxImagePixels === 1000);
 * console.assert(pixelLimitSetting(Infinity).maxImagePixels === "none");
 * ```
 */
export function pixelLimitSetting(
  limit: number = maxImagePixels(),
): Pick<RunRecord["settings"], "maxImagePixels"> {
  if (limit === DEFAULT_MAX_IMAGE_PIXELS) return {};
  return { maxImagePixels: Number.isFinite(limit) ? limit : "none" };
}

/** Builds the run record of a finished run (zero-shot results; adaptation adds its cells). */
export async function buildRunRecord(input: RunRecordInput): Promise<RunRecord> {
  const manifest = input.model.bundle.manifest;
  const headlines = input.taskResults.map((t) => t.result?.headline ?? -1).filter((v) => v > -1);
  const files = input.annotationFiles ?? input.prepared.map((p) => p.task.annotationFile);
  const dataHash = await sha256Hex(
    (await Promise.all(files.map(async (file) => `${file}:${await sha256File(file)}`))).join("\n"),
  );
  const deliberateDifferences = [
    "Head outputs computed in fp32 by ONNX graphs exported from the official module definitions (no CUDA kernels); tolerance vs. the official code is checked by the fidelity tests.",
    ...(input.demo
      ? [
        "Embedded demo: synthetic data and the nano demo model (random backbones, fusion + head trained on a generated grounding corpus that excludes the demo tasks' images); the numbers test the pipeline, not GLIP.",
      ]
      : []),
    ...(input.limit ? [`Smoke run: only the first ${input.limit} images of each task.`] : []),
  ];
  const { timings } = input;
  const createdAt = new Date().toISOString();
  return {
    schema: RUN_RECORD_SCHEMA,
    version: RUN_RECORD_VERSION,
    id: `${input.suite}-${input.model.label}-${input.engineDescription.engine}-${createdAt}`,
    createdAt,
    suite: input.suite,
    protocol: input.protocol,
    settings: {
      split: input.prepared.map((p) => `${p.task.name}:${p.task.split}`).join(", "),
      promptVariant: input.prompt,
      postprocess: { ...manifest.postprocess },
      preprocess: { ...manifest.preprocess },
      ...(input.limit ? { limit: input.limit } : {}),
      ...(input.shard ? { shard: `${input.shard.index}/${input.shard.count}` } : {}),
      ...pixelLimitSetting(),
      deliberateDifferences,
    },
    model: {
      name: input.model.label,
      configName: manifest.configName,
      bundleSha256: input.fingerprint?.model?.bundleSha256 ??
        await bundleSha256Of(input.model.bundle),
      checkpointSha256: manifest.source.sha256,
      demo: input.demo,
    },
    engine: input.engineDescription,
    provenance: {
      suiteVersion: SUITE_VERSION,
      gitCommit: await gitCommit(),
      deno: Deno.version.deno,
      machine: machineDescription(),
      dataRoot: input.rootPath,
      dataHash,
      command: input.command,
    },
    tasks: input.taskResults,
    summary: {
      mean: headlines.length ? headlines.reduce((a, b) => a + b, 0) / headlines.length : -1,
      metric: input.taskResults[0]?.result?.metric === "flickr30k" ? "R@1" : "AP",
      tasks: input.taskResults.length,
    },
    timings: {
      wallSeconds: timings.wallSeconds,
      imagesPerSecond: timings.images / Math.max(timings.wallSeconds, 1e-9),
      peakRssBytes: timings.peakRssBytes,
      stages: timings.stages,
      segments: timings.segments,
    },
    invocations: timings.invocations,
    taskSpecs: input.prepared.map((p) => ({ ...p.task, card: undefined, imageIds: p.imageIds })),
    ...(input.fingerprint ? { fingerprint: input.fingerprint } : {}),
    comparison: {
      ...(manifest.source.file ? { checkpointFile: basename(manifest.source.file) } : {}),
      ...(input.reference ? { reference: input.reference } : {}),
    },
  };
}

/** Writes an ODinW leaderboard file under `<dir>/leaderboard/`, saying when a split is not test. */
export async function writeLeaderboard(
  dir: string,
  tasks: DetectionTask[],
  submission: ZeroShotSubmission | FewShotSubmission,
  log: (line: string) => void,
  shots?: number | "all",
): Promise<void> {
  const path = await writeSubmission(join(dir, "leaderboard"), submission, shots);
  const notTest = tasks.filter((t) => t.split !== "test");
  log(
    `ODinW leaderboard file: ${path}${
      notTest.length
        ? ` (the leaderboard scores test; ${
          notTest.map((t) => `${t.name} used ${t.split}`).join(", ")
        })`
        : ""
    }`,
  );
}

/** The ODinW zero-shot leaderboard submission of a run's stored detections. */
export async function zeroShotSubmission(prepared: PreparedTask[]): Promise<ZeroShotSubmission> {
  const submission: ZeroShotSubmission = {};
  for (const task of prepared) {
    submission[task.task.name] = await storedDetections([task.detectionsFile], task.imageIds);
  }
  return submission;
}

/**
 * Writes each task's detections in its evaluator's format: a COCO results file
 * (`detections/<task>.bbox.json`), or for grounding MDETR's predictions
 * (`detections/<task>.flickr.json`, what 'deno task eval flickr30k --pred' reads).
 */
export async function writeEvaluatorFiles(prepared: PreparedTask[]): Promise<void> {
  for (const task of prepared) {
    if (task.grounding) {
      await writeFileAtomic(
        task.detectionsFile.replace(/\.jsonl$/, ".flickr.json"),
        JSON.stringify(await groundingPredictions(task, [task.detectionsFile])),
      );
      continue;
    }
    const detections = await storedDetections([task.detectionsFile], task.imageIds);
    await writeFileAtomic(
      task.detectionsFile.replace(/\.jsonl$/, ".bbox.json"),
      JSON.stringify(detections),
    );
  }
}
