/**
 * `--trainer native`: GLIP's prompt tuning run by the suite itself, per (task, shots, seed) cell.
 * The k-shot training images come from GLIP's sampler; the prompt is the task's evaluation
 * prompt (GLIP trains ODinW with the same category caption, `DISABLE_SHUFFLE`); model selection
 * is on the task's val split with the engine the run uses; the best-on-val offset is saved as
 * `prompt.safetensors` (`rpn.tunable_linear.weight`, [T, D], the rows GLIP's prompt uses) and
 * evaluated on test by the adaptation protocol. A finished cell is not trained again, and an
 * interrupted one resumes from its last finished epoch.
 *
 * @module
 */
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { InputError, UsageError } from "../core/errors.ts";
import type { Engine, EngineFactory, EngineOptions, ImageInput } from "../engines/engine.ts";
import { type CocoDataset, loadCocoJson } from "../datasets/coco_json.ts";
import {
  type FewShotSampler,
  hasValidAnnotation,
  type KShotSource,
  preparedFewShotCell,
  sampleFewShot,
} from "../datasets/fewshot.ts";
import { bundleDigest, loadBundle, type ModelBundle } from "../models/bundle.ts";
import { writeFileAtomic, writeViaTemporary } from "../core/atomic_file.ts";
import { checkedBundleFile, checkedGraphFiles } from "../models/bundle_files.ts";
import { readCheckpoint, writeSafetensors } from "../models/checkpoint/mod.ts";
import { bundleWeights, writeTunedBundle } from "../models/glip/bundle_weights.ts";
import { sha256File } from "../core/hash.ts";
import { onnxRuntime, type TrainingRuntime } from "../models/train/runtime.ts";
import type { TrainingMemory } from "../models/train/recompute.ts";
import { webgpuTrainingRuntime } from "../engines/ort_web/training.ts";
import {
  type FullTrainingView,
  glipFullTuningSettings,
  tuneFullModel,
} from "../models/train/full_tuner.ts";
import type { GlipArchitecture } from "../models/glip/config.ts";
import { tuneLinearProbe } from "../models/train/linear_probe_tuner.ts";
import { decodeImage, type RgbImage } from "../models/image/decode.ts";
import { preprocessImage } from "../models/image/preprocess.ts";
import { buildChunkedPrompts, type PromptChunk } from "../models/text/prompt.ts";
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import {
  glipPromptTuningSettings,
  type PromptTuningResult,
  type PromptTuningSettings,
  type TrainingView,
  tunePrompt,
} from "../models/train/prompt_tuner.ts";
import type { TargetBox } from "../models/train/targets.ts";
import { prepareTask, runInference, scoreTask, taskFileName } from "./runner.ts";
import type { DetectionTask } from "./suite.ts";
import type { StageTimer } from "./stage_timer.ts";
import type { TrainerCell } from "./external_trainer.ts";
import { pathExists } from "../core/fs.ts";
import { turnOffOnnxRuntimeTelemetry } from "../core/onnxruntime_telemetry.ts";

turnOffOnnxRuntimeTelemetry();

/** The tensor name GLIP gives the prompt offset (`VLDyHeadModule.tunable_linear`). */
export const PROMPT_TENSOR = "rpn.tunable_linear.weight";

/** What the native trainer needs besides the cell. */
export interface NativeTrainerOptions {
  bundle: ModelBundle;
  factory: EngineFactory;
  engineOptions: EngineOptions;
  timer: StageTimer;
  /** Run folder; cells go to `trainer/<task>/<shots>_<seed>/`. */
  outDir: string;
  sampler: FewShotSampler;
  /**
   * `prepared`: train on GLIP's `fewshot_train_shot{k}_seed{s}.json` and select on its
   * `fewshot_val_...` file instead of sampling from the full train split and selecting on the
   * full val split. @default "sampled"
   */
  fewShotSource?: KShotSource;
  /** Overrides of GLIP's settings (e.g. `maxEpochs` for a short run). */
  overrides?: Partial<PromptTuningSettings>;
  /**
   * Peak memory each train graph may use, in bytes (models/train/recompute.ts).
   * @default 80% of the memory available when a cell starts
   */
  memoryBudgetBytes?: number;
  log?: (line: string) => void;
}

/** What a trained cell left: its checkpoint and the training record. */
export interface NativeCellResult {
  checkpoint: string;
  zeroShotValAp: number;
  bestValAp: number;
  bestEpoch: number;
  epochs: PromptTuningResult["epochs"];
  settings: PromptTuningSettings;
  images: number;
  /** Where the training graphs ran. */
  trainedOn: string;
  /** The memory budget and each train graph's plan (segments, planned peak). */
  memory?: TrainingMemory;
  /**
   * sha256 of every file the cell produced, by path relative to the cell folder (for the
   * `model_best/` bundle: its bundle digest); `done.json` is trusted only while they match.
   */
  files?: Record<string, string>;
}

/** Which native trainer a protocol uses. */
export type NativeMode = "prompt" | "full" | "linear-probe";

/**
 * Reads a prompt offset [T * D] from a checkpoint: ours (`prompt.safetensors`) or a GLIP
 * prompt-tuned `.pth` (`rpn.tunable_linear.weight` [1000, 768], first T rows).
 */
export async function loadPromptOffset(path: string, T: number, D: number): Promise<Float32Array> {
  const checkpoint = await readCheckpoint(path);
  try {
    const name = [...checkpoint.tensors.keys()].find((n) => n.endsWith(PROMPT_TENSOR));
    if (!name) {
      throw new InputError(`no ${PROMPT_TENSOR} tensor: not a prompt-tuned checkpoint`, {
        file: path,
      });
    }
    const tensor = checkpoint.tensors.get(name)!;
    const [rows, width] = tensor.shape;
    if (tensor.shape.length !== 2 || width !== D || rows < T) {
      throw new InputError(`needs at least [${T}, ${D}] for this model`, {
        file: path,
        field: name,
        value: `[${tensor.shape}]`,
      });
    }
    return (await tensor.toFloat32()).slice(0, T * D);
  } finally {
    checkpoint.close();
  }
}

/**
 * Where the training graphs run: onnxruntime-node with the run's execution provider when the
 * engine is `onnx` (CPU, CUDA; TensorRT trains on CUDA), WebGPU when it is `webgpu` (CPU nodes
 * refused unless `allowCpuFallback`), else onnxruntime-node on the CPU. Model selection and the
 * test run always use the run's engine.
 */
export function trainingRuntime(engine: string, options: EngineOptions): TrainingRuntime {
  if (engine === "webgpu") {
    return webgpuTrainingRuntime({
      allowCpuFallback: options.allowCpuFallback,
      threads: options.threads,
    });
  }
  return onnxRuntime(onnxSessionOptions(engine, options));
}

/** onnxruntime-node options for the frozen backbones and the `onnx` training runtime. */
function onnxSessionOptions(
  engine: string,
  options: EngineOptions,
): { executionProviders: string[]; intraOpNumThreads?: number } {
  const provider = engine === "onnx" ? options.executionProvider ?? "cpu" : "cpu";
  return {
    executionProviders: [provider === "tensorrt" ? "cuda" : provider],
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
}

/** GLIP's training boxes of one image: xywh -> xyxy (x2 = x + w - 1), clipped, empty ones dropped. */
function groundTruth(
  dataset: CocoDataset,
  imageId: number,
  tokensOf: (categoryId: number) => number[],
): { box: [number, number, number, number]; tokens: number[] }[] {
  const image = dataset.imageById.get(imageId)!;
  const boxes: { box: [number, number, number, number]; tokens: number[] }[] = [];
  for (const a of dataset.annotationsByImage.get(imageId) ?? []) {
    if (a.iscrowd) continue;
    const [x, y, w, h] = a.bbox;
    const x1 = Math.min(Math.max(x, 0), image.width - 1);
    const y1 = Math.min(Math.max(y, 0), image.height - 1);
    const x2 = Math.min(Math.max(x + w - 1, 0), image.width - 1);
    const y2 = Math.min(Math.max(y + h - 1, 0), image.height - 1);
    if (x2 > x1 && y2 > y1) boxes.push({ box: [x1, y1, x2, y2], tokens: tokensOf(a.category_id) });
  }
  return boxes;
}

/** What both native trainers share for one cell: data, prompt, views and val evaluation. */
interface CellContext {
  dir: string;
  log: (line: string) => void;
  arch: GlipArchitecture;
  imageIds: number[];
  chunk: PromptChunk;
  /** The preprocessed training image at a short side and flip, with its boxes. */
  preprocessed(
    index: number,
    size: number,
    flip: boolean,
  ): Promise<{ input: ImageInput; boxes: TargetBox[] }>;
  /** Val AP of `bundle` (with a prompt offset) on the task's val split. */
  evaluate(bundle: ModelBundle, offset?: Float32Array): Promise<number>;
  dispose(): Promise<void>;
}

async function prepareCell(
  cell: TrainerCell,
  options: NativeTrainerOptions,
  dir: string,
): Promise<CellContext> {
  const { task, shots, seed } = cell;
  if (!task.trainAnnotationFile || !task.valAnnotationFile) {
    throw new UsageError(
      `--trainer native: task ${task.name} needs train and val splits (has train: ${
        Boolean(task.trainAnnotationFile)
      }, val: ${Boolean(task.valAnnotationFile)})`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  const log = (line: string) => options.log?.(`${task.name} ${shots}-shot seed ${seed}: ${line}`);
  const { bundle } = options;
  const arch = bundle.manifest.architecture as unknown as GlipArchitecture;
  const T = bundle.manifest.maxQueryLength;

  // k-shot training images (GLIP drops images without a valid box): sampled from the train split,
  // or every image of GLIP's prepared file, which then also replaces val for model selection
  const prepared = options.fewShotSource === "prepared"
    ? await preparedFewShotCell(task, shots, seed)
    : undefined;
  const trainFile = prepared?.train ?? task.trainAnnotationFile;
  const train = await loadCocoJson(trainFile, { removeBackground: true });
  const imageIds =
    (shots === "all" || prepared
      ? train.images.map((i) => i.id).sort((a, b) => a - b)
      : sampleFewShot(train, shots, { sampler: options.sampler, seed }))
      .filter((id) => hasValidAnnotation(train.annotationsByImage.get(id) ?? []));
  if (imageIds.length === 0) {
    throw new InputError("no training image with a valid box", { file: trainFile });
  }

  // the task prompt and each category's tokens
  const tokenizer = await loadBertTokenizer(
    await checkedBundleFile(bundle, bundle.manifest.tokenizer.vocab),
  );
  const [chunk, ...rest] = buildChunkedPrompts(tokenizer, task.names, {
    separator: task.separator,
    captionPrompt: task.captionPrompt,
    labels: task.labels,
    maxLength: T,
  });
  if (rest.length > 0) throw new UsageError(`--trainer native: task ${task.name} needs one prompt`);
  const labelOfCategory = new Map(
    task.categoryIds.map((id, i) => [id, task.labels?.[i] ?? i + 1]),
  );
  const tokensOf = (categoryId: number) =>
    chunk.positiveMapLabelToToken.get(labelOfCategory.get(categoryId) ?? -1) ?? [];

  const trainRoot = task.trainImageRoot ?? dirname(task.trainAnnotationFile);
  const decoded = new Map<number, RgbImage>();
  const preprocessed = async (index: number, size: number, flip: boolean) => {
    const image = train.imageById.get(imageIds[index])!;
    let rgb = decoded.get(image.id);
    if (!rgb) {
      const path = join(trainRoot, image.file_name);
      rgb = await decodeImage(await Deno.readFile(path), path);
      decoded.set(image.id, rgb);
    }
    const settings = { ...bundle.manifest.preprocess, minSize: size };
    const pre = preprocessImage(rgb, settings, { flipHorizontal: flip });
    // BoxList.resize scales x and y by their own ratios; transpose flips within the resized width
    const sx = pre.resizedSize.width / rgb.width;
    const sy = pre.resizedSize.height / rgb.height;
    const W = pre.resizedSize.width;
    const boxes: TargetBox[] = groundTruth(train, image.id, tokensOf).map(({ box, tokens }) => {
      let [x1, y1, x2, y2] = [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];
      if (flip) [x1, x2] = [W - x2 - 1, W - x1 - 1];
      return { box: [x1, y1, x2, y2] as [number, number, number, number], tokens };
    });
    return { input: pre.input, boxes };
  };

  // model selection on val with the run's engine
  const valTask: DetectionTask = {
    ...task,
    split: prepared ? `val ${shots}-shot seed ${seed}` : "val",
    annotationFile: prepared?.val ?? task.valAnnotationFile,
    imageRoot: task.valImageRoot ?? dirname(task.valAnnotationFile),
  };
  const valDir = join(dir, "val");
  const preparedVal = await prepareTask(valTask, { bundle, outDir: valDir });
  let engine: { bundle: ModelBundle; engine: Engine } | undefined;
  const evaluate = async (evaluated: ModelBundle, offset?: Float32Array) => {
    // a rewritten bundle needs a fresh engine: its weights changed on disk
    if (engine && (engine.bundle !== evaluated || evaluated !== bundle)) {
      await engine.engine.dispose();
      engine = undefined;
    }
    engine ??= {
      bundle: evaluated,
      engine: await options.factory.create(evaluated, options.engineOptions),
    };
    await Deno.remove(preparedVal.detectionsFile).catch(() => {});
    await runInference(preparedVal, {
      engine: engine.engine,
      bundle: evaluated,
      timer: options.timer,
      outDir: valDir,
      resume: false,
      promptOffset: offset,
    });
    return Math.max((await scoreTask(preparedVal)).headline, 0);
  };
  return {
    dir,
    log,
    arch,
    imageIds,
    chunk,
    preprocessed,
    evaluate,
    async dispose() {
      await engine?.engine.dispose();
    },
  };
}

function cellDir(options: NativeTrainerOptions, cell: TrainerCell): string {
  return join(options.outDir, "trainer", taskFileName(cell.task), `${cell.shots}_${cell.seed}`);
}

/**
 * The record of a cell trained before (`done.json`), if any: only when every file it names still
 * has the digest it records (else the cell is trained again, resuming from its last state).
 */
export async function finishedCell(
  dir: string,
  log: (line: string) => void,
): Promise<NativeCellResult | undefined> {
  const doneFile = join(dir, "done.json");
  if (!(await pathExists(doneFile))) return undefined;
  let record: NativeCellResult;
  try {
    record = JSON.parse(await Deno.readTextFile(doneFile)) as NativeCellResult;
  } catch (error) {
    log(`${doneFile} is unreadable (${(error as Error).message}); finishing the cell again`);
    return undefined;
  }
  if (typeof record.files !== "object" || record.files === null) {
    log(`${doneFile} names no file digests; finishing the cell again`);
    return undefined;
  }
  if (record.memory !== undefined && !isTrainingMemory(record.memory)) {
    log(`${doneFile}: memory is not a budget with plans; finishing the cell again`);
    return undefined;
  }
  for (const [name, digest] of Object.entries(record.files)) {
    const actual = await producedDigest(dir, name).catch((error) => `unreadable: ${error.message}`);
    if (actual !== digest) {
      log(`${join(dir, name)} does not match ${doneFile} (${actual}); finishing the cell again`);
      return undefined;
    }
  }
  return record;
}

/** Whether `value` has the shape of a {@link TrainingMemory} (it reaches the run record). */
function isTrainingMemory(value: unknown): value is TrainingMemory {
  const memory = value as TrainingMemory;
  const finite = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n > 0;
  return typeof memory === "object" && memory !== null && finite(memory.budgetBytes) &&
    Array.isArray(memory.plans) &&
    memory.plans.every((p) =>
      typeof p?.graph === "string" && Number.isInteger(p.segments) && p.segments >= 1 &&
      finite(p.plannedPeakBytes)
    );
}

/** The digest done.json records for a produced file: a bundle folder's digest, else sha256. */
async function producedDigest(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  if ((await Deno.stat(path)).isDirectory) return await bundleDigest(await loadBundle(path));
  return await sha256File(path);
}

/** Writes `done.json` last (temp + rename), naming the digests of the files the cell produced. */
export async function writeDone(
  dir: string,
  record: NativeCellResult,
  produced: string[],
): Promise<NativeCellResult> {
  const files: Record<string, string> = {};
  for (const name of produced) files[name] = await producedDigest(dir, name);
  await writeFileAtomic(
    join(dir, "done.json"),
    JSON.stringify({ ...record, files }, null, 2) + "\n",
  );
  return { ...record, files };
}

/**
 * The frozen backbones of prompt tuning and linear probing: the text features of the task prompt
 * once, and the FPN features of each training view (image, scale, flip) once, cached.
 */
async function frozenFeatures(
  context: CellContext,
  options: NativeTrainerOptions,
): Promise<{
  langHidden: Float32Array;
  view(index: number, size: number, flip: boolean): Promise<TrainingView>;
  release(): Promise<void>;
}> {
  const { bundle } = options;
  const T = bundle.manifest.maxQueryLength;
  const sessionOptions = onnxSessionOptions(options.factory.name, options.engineOptions);
  const sessionOf = async (graph: "text" | "image") =>
    ort.InferenceSession.create(
      (await checkedGraphFiles(bundle, bundle.manifest.graphs[graph])).model,
      sessionOptions,
    );
  const textSession = await sessionOf("text");
  const { chunk } = context;
  const ids = BigInt64Array.from(chunk.encoding.inputIds, (v) => BigInt(v));
  const mask = BigInt64Array.from(chunk.encoding.attentionMask, (v) => BigInt(v));
  let langHidden: Float32Array;
  try {
    const text = await textSession.run({
      input_ids: new ort.Tensor("int64", ids, [1, T]),
      attention_mask: new ort.Tensor("int64", mask, [1, T]),
    });
    langHidden = (text.lang_hidden.data as Float32Array).slice();
  } finally {
    await textSession.release();
  }
  const imageSession = await sessionOf("image");
  const views = new Map<string, TrainingView>();
  const view = async (index: number, size: number, flip: boolean): Promise<TrainingView> => {
    const key = `${index}:${size}:${flip}`;
    const cached = views.get(key);
    if (cached) return cached;
    const { input, boxes } = await context.preprocessed(index, size, flip);
    const outputs = await options.timer.time("train-image", () =>
      imageSession.run({
        image: new ort.Tensor("float32", input.data, [1, 3, input.height, input.width]),
      }));
    const levels = [3, 4, 5, 6, 7].map((l) => {
      const t = outputs[`fpn_p${l}`];
      return { data: t.data as Float32Array, height: Number(t.dims[2]), width: Number(t.dims[3]) };
    });
    const result = { levels, boxes };
    views.set(key, result);
    return result;
  };
  return { langHidden, view, release: () => imageSession.release() };
}

/** Trains one cell (or finds it trained) and returns its prompt checkpoint and record. */
export async function trainPromptCell(
  cell: TrainerCell,
  options: NativeTrainerOptions,
): Promise<NativeCellResult> {
  const { task, shots, seed } = cell;
  const dir = cellDir(options, cell);
  const finished = await finishedCell(dir, (line) => options.log?.(line));
  if (finished) return finished;
  const context = await prepareCell(cell, options, dir);
  const { arch, imageIds, chunk, log } = context;
  const { bundle } = options;
  const T = bundle.manifest.maxQueryLength;
  const D = bundle.manifest.textWidth;
  const runtime = trainingRuntime(options.factory.name, options.engineOptions);
  const frozen = await frozenFeatures(context, options);
  const { langHidden, view } = frozen;
  const evaluate = (offset: Float32Array) => context.evaluate(bundle, offset);

  const settings = {
    ...glipPromptTuningSettings(
      shots,
      bundle.manifest.preprocess.minSize,
      bundle.manifest.preprocess.maxSize,
    ),
    ...options.overrides,
  };
  let result: PromptTuningResult;
  try {
    log(`prompt tuning on ${imageIds.length} image(s), ${settings.copies} copies per epoch`);
    result = await tunePrompt(
      {
        arch,
        weights: await bundleWeights(bundle),
        langHidden,
        attentionMask: chunk.encoding.attentionMask,
        imageCount: imageIds.length,
        view,
        evaluate,
        stateDir: join(dir, "state"),
        runtime,
        memoryBudgetBytes: options.memoryBudgetBytes,
        log,
      },
      settings,
      seed,
    );
  } finally {
    await context.dispose();
    await frozen.release();
  }
  const checkpoint = join(dir, "prompt.safetensors");
  const baseDigest = await bundleDigest(bundle.manifest);
  await writeViaTemporary(checkpoint, (path) =>
    writeSafetensors(
      path,
      new Map([[PROMPT_TENSOR, { shape: [T, D], data: result.offset }]]),
      {
        format: "glip-bench-prompt",
        base_bundle: baseDigest,
        task: task.name,
        shots: String(shots),
        seed: String(seed),
      },
    ));
  const record: NativeCellResult = {
    checkpoint,
    zeroShotValAp: result.zeroShotValAp,
    bestValAp: result.bestValAp,
    bestEpoch: result.bestEpoch,
    epochs: result.epochs,
    settings,
    images: imageIds.length,
    trainedOn: runtime.description,
    memory: result.memory,
  };
  return await writeDone(dir, record, ["prompt.safetensors"]);
}

/**
 * Trains one cell with GLIP's full-model tuning (or finds it trained) and returns the best-on-val
 * model as a bundle folder (`model_best/`, which the suite loads like any bundle) next to
 * `model_best.safetensors` (every tuned tensor, by graph name) and the training record.
 */
export async function trainFullCell(
  cell: TrainerCell,
  options: NativeTrainerOptions,
): Promise<NativeCellResult> {
  const { shots, seed } = cell;
  const dir = cellDir(options, cell);
  const finished = await finishedCell(dir, (line) => options.log?.(line));
  if (finished) return finished;
  const context = await prepareCell(cell, options, dir);
  const { bundle } = options;
  const baseDigest = await bundleDigest(bundle.manifest);
  const views = new Map<string, FullTrainingView>();
  const view = async (index: number, size: number, flip: boolean) => {
    const key = `${index}:${size}:${flip}`;
    let cached = views.get(key);
    if (!cached) {
      const { input, boxes } = await context.preprocessed(index, size, flip);
      cached = { image: input, boxes };
      views.set(key, cached);
    }
    return cached;
  };
  // the evaluation copy is rebuilt from the base bundle (a crash may have left it half-patched)
  const working = join(dir, "working");
  await Deno.remove(working, { recursive: true }).catch(() => {});
  const runtime = trainingRuntime(options.factory.name, options.engineOptions);
  const evaluate = async (weights: Map<string, Float32Array>) =>
    await context.evaluate(
      await writeTunedBundle(bundle, working, weights, { kind: "tuned", base: baseDigest }),
    );
  const settings = glipFullTuningSettings({
    ...glipPromptTuningSettings(
      shots,
      bundle.manifest.preprocess.minSize,
      bundle.manifest.preprocess.maxSize,
    ),
    ...options.overrides,
  });
  let result;
  try {
    context.log(
      `full-model tuning on ${context.imageIds.length} image(s), ${settings.copies} copies per epoch`,
    );
    result = await tuneFullModel(
      {
        arch: context.arch,
        weights: {
          text: await bundleWeights(bundle, "text"),
          image: await bundleWeights(bundle, "image"),
          head: await bundleWeights(bundle, "head"),
        },
        inputIds: context.chunk.encoding.inputIds,
        attentionMask: context.chunk.encoding.attentionMask,
        imageCount: context.imageIds.length,
        view,
        evaluate,
        stateDir: join(dir, "state"),
        log: context.log,
        runtime,
        memoryBudgetBytes: options.memoryBudgetBytes,
      },
      settings,
      seed,
    );
  } finally {
    await context.dispose();
  }
  return await finishTunedCell(dir, bundle, cell, result, {
    working,
    settings,
    images: context.imageIds.length,
    trainedOn: runtime.description,
    memory: result.memory,
  });
}

/**
 * Writes a tuned cell's best-on-val model: `model_best.safetensors` (every tuned tensor, by graph
 * name), then the `model_best/` bundle (written whole into a temporary folder, then renamed).
 */
async function writeBestModel(
  dir: string,
  bundle: ModelBundle,
  weights: Map<string, { shape: number[]; data: Float32Array }>,
  cell: TrainerCell,
): Promise<string> {
  const baseDigest = await bundleDigest(bundle.manifest);
  const tensors = join(dir, "model_best.safetensors");
  await writeViaTemporary(tensors, (path) =>
    writeSafetensors(path, weights, {
      format: "glip-bench-tuned",
      base_bundle: baseDigest,
      task: cell.task.name,
      shots: String(cell.shots),
      seed: String(cell.seed),
    }));
  const best = join(dir, "model_best");
  await Deno.remove(best, { recursive: true }).catch(() => {});
  await writeViaTemporary(best, async (path) => {
    await writeTunedBundle(
      bundle,
      path,
      new Map([...weights].map(([name, t]) => [name, t.data])),
      {
        kind: "tuned",
        base: baseDigest,
        file: "model_best.safetensors",
        sha256: await sha256File(tensors),
      },
    );
  });
  return best;
}

/**
 * Trains one cell with GLIP's linear probing (or finds it trained): the backbones and the DyHead
 * tower frozen, only the final prediction layers trained (models/train/linear_probe_tuner.ts);
 * returns the best-on-val model as a bundle folder (`model_best/`) like full tuning.
 */
export async function trainLinearProbeCell(
  cell: TrainerCell,
  options: NativeTrainerOptions,
): Promise<NativeCellResult> {
  const { shots, seed } = cell;
  const dir = cellDir(options, cell);
  const finished = await finishedCell(dir, (line) => options.log?.(line));
  if (finished) return finished;
  const context = await prepareCell(cell, options, dir);
  const { bundle } = options;
  const baseDigest = await bundleDigest(bundle.manifest);
  // the evaluation copy is rebuilt from the base bundle (a crash may have left it half-patched)
  const working = join(dir, "working");
  await Deno.remove(working, { recursive: true }).catch(() => {});
  const runtime = trainingRuntime(options.factory.name, options.engineOptions);
  const settings = glipFullTuningSettings({
    ...glipPromptTuningSettings(
      shots,
      bundle.manifest.preprocess.minSize,
      bundle.manifest.preprocess.maxSize,
    ),
    ...options.overrides,
  });
  let result;
  const frozen = await frozenFeatures(context, options);
  try {
    context.log(
      `linear probing on ${context.imageIds.length} image(s), ${settings.copies} copies per epoch`,
    );
    result = await tuneLinearProbe(
      {
        arch: context.arch,
        weights: await bundleWeights(bundle, "head"),
        langHidden: frozen.langHidden,
        attentionMask: context.chunk.encoding.attentionMask,
        imageCount: context.imageIds.length,
        view: frozen.view,
        evaluate: async (weights) =>
          await context.evaluate(
            await writeTunedBundle(bundle, working, weights, { kind: "tuned", base: baseDigest }),
          ),
        stateDir: join(dir, "state"),
        runtime,
        memoryBudgetBytes: options.memoryBudgetBytes,
        log: context.log,
      },
      settings,
      seed,
    );
  } finally {
    await context.dispose();
    await frozen.release();
  }
  return await finishTunedCell(dir, bundle, cell, result, {
    working,
    settings,
    images: context.imageIds.length,
    trainedOn: runtime.description,
    memory: result.memory,
  });
}

/**
 * The end of a cell that tunes weights (full tuning, linear probing): its best-on-val model is
 * written, the evaluation copy removed, and `done.json` written last with the files' digests.
 */
async function finishTunedCell(
  dir: string,
  bundle: ModelBundle,
  cell: TrainerCell,
  result: {
    weights: Map<string, { shape: number[]; data: Float32Array }>;
    zeroShotValAp: number;
    bestValAp: number;
    bestEpoch: number;
    epochs: NativeCellResult["epochs"];
  },
  run:
    & { working: string }
    & Pick<NativeCellResult, "settings" | "images" | "trainedOn" | "memory">,
): Promise<NativeCellResult> {
  const best = await writeBestModel(dir, bundle, result.weights, cell);
  await Deno.remove(run.working, { recursive: true }).catch(() => {});
  const record: NativeCellResult = {
    checkpoint: best,
    zeroShotValAp: result.zeroShotValAp,
    bestValAp: result.bestValAp,
    bestEpoch: result.bestEpoch,
    epochs: result.epochs,
    settings: run.settings,
    images: run.images,
    trainedOn: run.trainedOn,
    memory: run.memory,
  };
  return await writeDone(dir, record, ["model_best.safetensors", "model_best"]);
}
