/**
 * Runs detection tasks: for each image, preprocessing, the image backbone once, the head once
 * per prompt chunk, ATSS post-processing, and the detections appended to disk as they are
 * produced (so a killed run resumes); then the metric on everything stored.
 *
 * @module
 */
import { join } from "node:path";
import type { Engine, FeatureHandle } from "../engines/engine.ts";
import type { ModelBundle, PostprocessSettings } from "../models/bundle.ts";
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import {
  buildCaptionPrompt,
  buildChunkedPrompts,
  type PromptChunk,
  promptHash,
} from "../models/text/prompt.ts";
import { decodeImage } from "../models/image/decode.ts";
import { preprocessImage } from "../models/image/preprocess.ts";
import { candidateFilter, convertBox, postprocessAtss } from "../models/post/atss.ts";
import { checkImageFiles, type CocoDataset, loadCocoJson } from "../datasets/coco_json.ts";
import { type CocoDetection, evaluateCoco } from "./metrics/coco.ts";
import { evaluateLvis, fixedApDetections, type LvisGroundTruth } from "./metrics/lvis.ts";
import {
  type DetectionExpectations,
  type DetectionRow,
  DetectionStore,
  readDetectionLines,
} from "./detection_store.ts";
import type { DetectionTask } from "./suite.ts";
import type { MetricResult, PromptRecord, TaskResult } from "./run_record.ts";
import { type Shard, shardImageIds } from "./shard.ts";
import {
  entriesByImage,
  flickrPrediction,
  groundingEntries,
  type GroundingEntry,
  groundingMetric,
} from "./grounding.ts";
import { evaluateFlickr30k } from "./metrics/flickr30k.ts";
import { sha256Hex } from "./provenance.ts";
import type { StageTimer } from "./stage_timer.ts";

/** Progress of one task: the CLI draws a bar and prints a summary line. */
export interface TaskProgress {
  /** `done` of the task's images are stored (those of earlier segments included). */
  tick(done: number): void;
  /** The task is finished. */
  end(): void;
}

/**
 * Makes the progress reporter of a task with `total` images, `alreadyDone` of them stored by an
 * earlier segment of the run (a resumed run) before this one started.
 */
export type ProgressReporter = (label: string, total: number, alreadyDone?: number) => TaskProgress;

const silentProgress: ProgressReporter = () => ({ tick() {}, end() {} });

/** Everything a task run needs besides the task. */
export interface TaskRunContext {
  engine: Engine;
  bundle: ModelBundle;
  timer: StageTimer;
  /** Run folder; detections go to `detections/<task>.jsonl`. */
  outDir: string;
  resume: boolean;
  shard?: Shard;
  /** Only the first N images (after sharding): a smoke run. */
  limit?: number;
  /** Override post-processing settings (e.g. detections per image for LVIS). */
  postprocess?: Partial<PostprocessSettings>;
  /** A tuned prompt offset [T, D] for the head (prompt tuning). */
  promptOffset?: Float32Array;
  /** Reports progress per task. @default silent */
  progress?: ProgressReporter;
  /** Called after each image's detections are stored (a grounding image: all its sentences). */
  onImageStored?: () => Promise<void> | void;
}

/** A task whose inputs were loaded and checked, ready to run. */
export interface PreparedTask {
  task: DetectionTask;
  dataset: CocoDataset;
  chunks: PromptChunk[];
  prompts: PromptRecord[];
  /** Image ids this run covers (sorted, sharded, limited); grounding: entry ids. */
  imageIds: number[];
  detectionsFile: string;
  /** Grounding tasks: the entries run and each one's caption prompt, by entry id. */
  grounding?: { entries: Map<number, GroundingEntry>; prompts: Map<number, PromptChunk> };
}

/** File-system-safe name of a task. */
export function taskFileName(task: DetectionTask): string {
  return task.name.replace(/[^A-Za-z0-9._-]+/g, "_");
}

/**
 * Loads a task's annotations, builds its prompts and checks that every image it will read
 * exists: all before any inference, so bad input fails early.
 */
export async function prepareTask(
  task: DetectionTask,
  context: Pick<TaskRunContext, "bundle" | "outDir" | "shard" | "limit">,
): Promise<PreparedTask> {
  const dataset = await loadCocoJson(task.annotationFile, { removeBackground: true });
  const tokenizer = await loadBertTokenizer(
    join(context.bundle.dir, context.bundle.manifest.tokenizer.vocab),
  );
  const detectionsFile = join(context.outDir, "detections", `${taskFileName(task)}.jsonl`);
  if (task.metric === "flickr30k") {
    // Shards and --limit cut whole images, so every sentence of an image shares its backbone run.
    const groups = entriesByImage(groundingEntries(dataset));
    let selected = shardImageIds(groups.map((_, i) => i), context.shard).map((i) => groups[i]);
    if (context.limit !== undefined) selected = selected.slice(0, context.limit);
    const entries = new Map(selected.flat().map((e) => [e.entryId, e]));
    const prompts = new Map<number, PromptChunk>();
    for (const entry of entries.values()) {
      prompts.set(
        entry.entryId,
        buildCaptionPrompt(tokenizer, entry.caption, entry.phraseSpans, {
          maxLength: context.bundle.manifest.maxQueryLength,
        }),
      );
    }
    const imageIds = [...entries.keys()].sort((a, b) => a - b);
    await checkImageFiles(dataset, task.imageRoot, imageIds);
    // The annotation file fixes every caption and span (the vocabulary is the bundle's), so its
    // hash identifies the prompts whatever slice of it a shard or a smoke run uses.
    const annotationHash = await sha256Hex(await Deno.readFile(task.annotationFile));
    return {
      task,
      dataset,
      chunks: [],
      prompts: [{
        query: `(the caption of each sentence of ${task.annotationFile})`,
        hash: annotationHash,
        labels: [],
        droppedLabels: [],
      }],
      imageIds,
      detectionsFile,
      grounding: { entries, prompts },
    };
  }
  const chunks = buildChunkedPrompts(tokenizer, task.names, {
    separator: task.separator,
    captionPrompt: task.captionPrompt,
    labels: task.labels,
    chunkSize: task.chunkSize,
    maxLength: context.bundle.manifest.maxQueryLength,
  });
  const prompts: PromptRecord[] = [];
  for (const chunk of chunks) {
    prompts.push({
      query: chunk.query,
      hash: await promptHash(chunk),
      labels: chunk.labels,
      droppedLabels: chunk.droppedLabels,
    });
  }
  const sorted = dataset.images.map((image) => image.id).sort((a, b) => a - b);
  let imageIds = shardImageIds(sorted, context.shard);
  if (context.limit !== undefined) imageIds = imageIds.slice(0, context.limit);
  await checkImageFiles(dataset, task.imageRoot, imageIds);
  return {
    task,
    dataset,
    chunks,
    prompts,
    imageIds,
    detectionsFile,
  };
}

/**
 * What a prepared task's detections file may hold: its image ids (grounding: sentence entry ids)
 * with the task's category ids (grounding: the phrase labels of the entry's caption).
 */
export function detectionExpectations(prepared: PreparedTask): DetectionExpectations {
  const imageIds = new Set(prepared.imageIds);
  const { grounding } = prepared;
  if (grounding) {
    return {
      imageIds,
      labelsOf: (id) => new Set(grounding.prompts.get(id)?.positiveMapLabelToToken.keys() ?? []),
    };
  }
  const labels = new Set(prepared.task.categoryIds);
  return { imageIds, labelsOf: () => labels };
}

/**
 * Runs inference for a prepared task, appending detections; resumes where the file stops (every
 * stored line checked against {@link detectionExpectations}).
 */
export async function runInference(
  prepared: PreparedTask,
  context: TaskRunContext,
): Promise<{ images: number }> {
  const { task, dataset, chunks } = prepared;
  const { engine, timer } = context;
  await Deno.mkdir(join(context.outDir, "detections"), { recursive: true });
  const store = await DetectionStore.open(prepared.detectionsFile, {
    resume: context.resume,
    expect: detectionExpectations(prepared),
  });
  if (prepared.grounding) return await runGrounding(prepared, prepared.grounding, store, context);
  const todo = prepared.imageIds.filter((id) => !store.done.has(id));
  const settings = {
    ...context.bundle.manifest.postprocess,
    detectionsPerImage: task.detectionsPerImage,
    ...context.postprocess,
  };
  const labelToCategory = new Map<number, number>();
  (task.labels ?? task.names.map((_, i) => i + 1)).forEach((label, i) =>
    labelToCategory.set(label, task.categoryIds[i])
  );
  const texts: FeatureHandle[] = [];
  const already = prepared.imageIds.length - todo.length;
  const bar = (context.progress ?? silentProgress)(task.name, prepared.imageIds.length, already);
  try {
    if (todo.length > 0) {
      for (const chunk of chunks) {
        texts.push(
          await timer.time("text", () =>
            engine.encodeText({
              inputIds: chunk.encoding.inputIds,
              attentionMask: chunk.encoding.attentionMask,
            })),
        );
      }
    }
    let done = 0;
    for (const imageId of todo) {
      const image = dataset.imageById.get(imageId)!;
      const pre = await loadImage(task, image.file_name, context);
      const original = task.originalSizeFrom === "json"
        ? { width: image.width, height: image.height }
        : pre.originalSize;
      const features = await timer.time("image", () => engine.encodeImage(pre.input));
      const rows: DetectionRow[] = [];
      try {
        for (const [c, chunk] of chunks.entries()) {
          const head = await timer.time(
            "head",
            () =>
              runHead(
                engine,
                features,
                texts[c],
                chunk.positiveMapLabelToToken,
                settings,
                context.promptOffset,
              ),
          );
          const detections = await timer.time(
            "post",
            () =>
              postprocessAtss(head, chunk.positiveMapLabelToToken, settings, {
                resized: pre.resizedSize,
                original,
              }),
          );
          for (let i = 0; i < detections.count; i++) {
            const box = convertBox(detections.boxes, i, task.boxConvention);
            rows.push([
              ...box,
              detections.scores[i],
              labelToCategory.get(detections.labels[i]) ?? -1,
            ]);
          }
        }
      } finally {
        features.dispose();
      }
      await store.append(imageId, rows);
      await context.onImageStored?.();
      bar.tick(already + ++done);
    }
  } finally {
    for (const text of texts) text.dispose();
    await store.close();
  }
  bar.end();
  return { images: todo.length };
}

/**
 * The head for one (image, prompt): on engines with device reduction, only the candidates the
 * post-processing can keep are read back (the detections are the same; see
 * engines/ort_web/candidates.ts).
 */
function runHead(
  engine: Engine,
  image: FeatureHandle,
  text: FeatureHandle,
  positiveMap: Map<number, number[]>,
  settings: PostprocessSettings,
  promptOffset?: Float32Array,
) {
  const options = promptOffset ? { promptOffset } : {};
  if (engine.capabilities.deviceReduction && engine.runHeadReduced) {
    return engine.runHeadReduced(image, text, candidateFilter(positiveMap, settings), options);
  }
  return engine.runHead(image, text, options);
}

/** Decodes and preprocesses one image of a task. */
function loadImage(task: DetectionTask, fileName: string, context: TaskRunContext) {
  return context.timer.time("preprocess", async () => {
    const path = join(task.imageRoot, fileName);
    return preprocessImage(
      await decodeImage(await Deno.readFile(path), path),
      context.bundle.manifest.preprocess,
    );
  });
}

/**
 * Grounding inference: per image, the backbone once; per sentence, its caption through the text
 * encoder and the head with the image's features; rows `[x1, y1, x2, y2, score, label]` at the
 * loaded image size (GLIP's `resize_box`), stored per entry.
 */
async function runGrounding(
  prepared: PreparedTask,
  grounding: NonNullable<PreparedTask["grounding"]>,
  store: DetectionStore,
  context: TaskRunContext,
): Promise<{ images: number }> {
  const { task } = prepared;
  const { engine, timer } = context;
  const settings = {
    ...context.bundle.manifest.postprocess,
    detectionsPerImage: task.detectionsPerImage,
    ...context.postprocess,
  };
  const todo = [...grounding.entries.values()].filter((e) => !store.done.has(e.entryId));
  const groups = entriesByImage(todo);
  const total = entriesByImage([...grounding.entries.values()]).length;
  const already = total - groups.length;
  const bar = (context.progress ?? silentProgress)(task.name, total, already);
  try {
    for (const [done, group] of groups.entries()) {
      const pre = await loadImage(task, group[0].fileName, context);
      const features = await timer.time("image", () => engine.encodeImage(pre.input));
      try {
        for (const entry of group) {
          const chunk = grounding.prompts.get(entry.entryId)!;
          const text = await timer.time("text", () =>
            engine.encodeText({
              inputIds: chunk.encoding.inputIds,
              attentionMask: chunk.encoding.attentionMask,
            }));
          const rows: DetectionRow[] = [];
          try {
            const head = await timer.time(
              "head",
              () =>
                runHead(
                  engine,
                  features,
                  text,
                  chunk.positiveMapLabelToToken,
                  settings,
                  context.promptOffset,
                ),
            );
            const detections = await timer.time(
              "post",
              () =>
                postprocessAtss(head, chunk.positiveMapLabelToToken, settings, {
                  resized: pre.resizedSize,
                  original: pre.originalSize,
                }),
            );
            for (let i = 0; i < detections.count; i++) {
              const box = convertBox(detections.boxes, i, "flickr");
              rows.push([...box, detections.scores[i], detections.labels[i]]);
            }
          } finally {
            text.dispose();
          }
          await store.append(entry.entryId, rows);
        }
      } finally {
        features.dispose();
      }
      await context.onImageStored?.();
      bar.tick(already + done + 1);
    }
  } finally {
    await store.close();
  }
  bar.end();
  return { images: groups.length };
}

/** GLIP's Flickr predictions (`flickr_post_process`) of a grounding task, from stored rows. */
export async function groundingPredictions(prepared: PreparedTask, files: string[]) {
  const rows = new Map<number, DetectionRow[]>();
  for (const file of files) {
    for (const line of (await readDetectionLines(file)).images) {
      rows.set(line.image_id, line.detections);
    }
  }
  const entries = [...prepared.grounding!.entries.values()].sort((a, b) => a.entryId - b.entryId);
  const missing = entries.filter((e) => !rows.has(e.entryId));
  if (missing.length > 0) {
    throw new Error(
      `detections are missing for ${missing.length} sentence(s) (first entry ids: ${
        missing.slice(0, 5).map((e) => e.entryId).join(", ")
      }); run again with --resume`,
    );
  }
  return entries.map((entry) => flickrPrediction(entry, rows.get(entry.entryId)!, files[0]));
}

/** Reads stored detections in the order pycocotools sees them (sorted image ids, then file order). */
export async function storedDetections(
  files: string[],
  imageIds: number[],
): Promise<CocoDetection[]> {
  const byImage = new Map<number, DetectionRow[]>();
  for (const file of files) {
    for (const line of (await readDetectionLines(file)).images) {
      if (byImage.has(line.image_id)) {
        throw new Error(
          `image ${line.image_id} appears in more than one detections file (${file})`,
        );
      }
      byImage.set(line.image_id, line.detections);
    }
  }
  const missing = imageIds.filter((id) => !byImage.has(id));
  if (missing.length > 0) {
    throw new Error(
      `detections are missing for ${missing.length} image(s) (first: ${
        missing.slice(0, 5).join(", ")
      }); run again with --resume`,
    );
  }
  const detections: CocoDetection[] = [];
  for (const id of [...imageIds].sort((a, b) => a - b)) {
    for (const [x, y, w, h, score, category] of byImage.get(id)!) {
      detections.push({ image_id: id, category_id: category, bbox: [x, y, w, h], score });
    }
  }
  return detections;
}

/**
 * Scores a task from its stored detections, the ground truth restricted to the images run:
 * COCO AP, or for LVIS GLIP's FixedAP (global top-k per category, no per-image cap).
 */
export async function scoreTask(
  prepared: PreparedTask,
  files = [prepared.detectionsFile],
): Promise<MetricResult> {
  const { dataset } = prepared;
  if (prepared.grounding) {
    const { grounding } = prepared.task;
    if (!grounding) throw new Error(`task ${prepared.task.name} has no grounding settings`);
    const predictions = await groundingPredictions(prepared, files);
    const recall = await evaluateFlickr30k(predictions, {
      root: grounding.entitiesRoot,
      subset: grounding.subset,
      merged: grounding.merged,
      images: [...new Set([...prepared.grounding.entries.values()].map((e) => e.imageId))],
    });
    return groundingMetric(recall);
  }
  const detections = await storedDetections(files, prepared.imageIds);
  if (prepared.task.metric === "lvis") {
    const imageSet = new Set(prepared.imageIds);
    const raw = dataset.raw as unknown as LvisGroundTruth;
    const gt: LvisGroundTruth = {
      images: raw.images.filter((i) => imageSet.has(i.id)),
      annotations: raw.annotations.filter((a) => imageSet.has(a.image_id)),
      categories: raw.categories,
    };
    const kept = fixedApDetections(detections, prepared.task.fixedApTopK ?? 10000);
    const result = evaluateLvis(gt, kept, { maxDets: -1, file: files.join(", ") });
    return {
      metric: "lvis",
      headline: result.results.AP,
      named: result.results,
      perCategory: result.perCategory,
    };
  }
  const result = evaluateCoco(dataset.raw as never, detections, {
    imgIds: prepared.imageIds,
    catIds: dataset.categories.map((c) => c.id),
  }, { gt: dataset.path, dt: files.join(", ") });
  const K = result.dims.K;
  const R = result.dims.R;
  const curve = (tIndices: number[]) =>
    Array.from({ length: R }, (_, r) => {
      const values: number[] = [];
      for (const t of tIndices) {
        for (let k = 0; k < K; k++) {
          const v = result
            .precision[
              (((t * R + r) * K + k) * result.dims.A + 0) * result.dims.M + (result.dims.M - 1)
            ];
          if (v > -1) values.push(v);
        }
      }
      return values.length ? values.reduce((a, b) => a + b, 0) / values.length : -1;
    });
  return {
    metric: "coco",
    headline: result.named.AP,
    named: result.named,
    perCategory: result.perCategory,
    prCurves: { iou50: curve([0]), iou50to95: curve(result.params.iouThrs.map((_, t) => t)) },
  };
}

/** The task part of a run record. */
export function taskResult(
  prepared: PreparedTask,
  result: MetricResult | undefined,
  outDir: string,
): TaskResult {
  const { task, dataset } = prepared;
  const imageSet = new Set(prepared.imageIds);
  return {
    name: task.name,
    dataset: task.dataset,
    split: task.split,
    images: prepared.imageIds.length,
    annotations: dataset.annotations.filter((a) => imageSet.has(a.image_id)).length,
    categories: dataset.categories.map((c, i) => ({ id: c.id, name: task.names[i] ?? c.name })),
    prompts: prepared.prompts,
    result,
    detectionsFile: prepared.detectionsFile.startsWith(outDir)
      ? prepared.detectionsFile.slice(outDir.length + 1)
      : prepared.detectionsFile,
    card: task.card ? { summary: task.card.summary, quirks: task.card.quirks } : undefined,
  };
}
