/**
 * One benchmark run as a library call: {@link runBenchmark} runs a suite over engines x models
 * (zero-shot, or the few-shot and prompt-tuning protocols), streams detections to disk, scores
 * them and writes a run record per (model, engine); `deno task bench` only turns its flags into
 * {@link BenchOptions} and prints the result. Resume, shards and merging work as from the CLI.
 *
 * Every run folder has one writer (`run.lock`), a fingerprint of what produces its results
 * (`fingerprint.json`, compared on resume) and timings summed over every segment
 * (`timings.json`).
 *
 * @example Run the embedded demo on two images per task and read the mean AP
 * ```ts ignore
 * import { runBenchmark } from "./bench_run.ts";
 * const result = await runBenchmark({ suite: "odinw", demo: true, limit: 2, outDir: "runs/smoke" });
 * console.log(result.runs[0].record.summary.mean);
 * ```
 *
 * @module
 */
import { join, resolve } from "node:path";
import { UsageError } from "../core/errors.ts";
import { engines, protocols, registerBuiltins, suites } from "../core/registries.ts";
import { unknownNameMessage } from "../core/did_you_mean.ts";
import type { Dtype } from "../engines/engine.ts";
import {
  FEW_SHOT_SAMPLERS,
  type FewShotSampler,
  K_SHOT_SOURCES,
  type KShotSource,
} from "../datasets/fewshot.ts";
import { type BenchModel, resolveBenchInputs } from "./bench_inputs.ts";
import {
  buildRunRecord,
  writeEvaluatorFiles,
  writeLeaderboard,
  zeroShotSubmission,
} from "./bench_record.ts";
import { runAdaptedBenchmark } from "./bench_adapt.ts";
import { checkShots, type Shots } from "./adaptation.ts";
import { checkTrainerTemplate } from "./external_trainer.ts";
import { acquireRunLock } from "./run_lock.ts";
import { claimNewRunDir, defaultRunDirBase } from "./run_folder.ts";
import {
  type BenchRequest,
  claimFingerprint,
  fingerprintDifferences,
  runFingerprint,
} from "./run_fingerprint.ts";
import { readRunRecord, type RunRecord, writeRunRecord } from "./run_record.ts";
import { RunSegments } from "./run_segments.ts";
import {
  type PreparedTask,
  prepareTask,
  type ProgressReporter,
  runInference,
  scoreTask,
  storedDetections,
  taskResult,
} from "./runner.ts";
import { isServerEvaluated, SERVER_ONLY_NOTE, writeTestDevSubmission } from "./coco_test_dev.ts";
import type { Shard } from "./shard.ts";
import type { DetectionSuite, DetectionTask } from "./suite.ts";
import { pathExists } from "../core/fs.ts";
import { checkReferenceKey } from "../reports/comparison.ts";
import { checkRunParity, earlierParityChecks } from "./bench_parity.ts";

/** What to run. Everything but `suite` has the CLI's default. */
export interface BenchOptions {
  /** A registered suite with the detection runner (odinw, coco, lvis, flickr30k, plugins). */
  suite: string;
  /** zero-shot, few-shot, prompt-tuning or linear-probe. @default "zero-shot" */
  protocol?: string;
  /** Engines to run, each over every model. @default ["onnx"] */
  engines?: string[];
  /** Bundle folders or `.pth` checkpoints (exported on first use and cached). */
  models?: string[];
  /** Architecture preset of `.pth` models. @default "glip-t" */
  modelConfig?: string;
  /** Task names. @default every task of the set */
  tasks?: string[];
  /** Task set (odinw13, odinw35). @default the suite's */
  set?: string;
  /** Prompt variant (raw, engineered). @default the suite's ("raw" for odinw) */
  prompt?: string;
  /** Split to evaluate. @default the suite's zero-shot split; test for adapting protocols */
  split?: string;
  /** Data root. @default $GLIP_BENCH_DATA, then ./DATASET */
  dataRoot?: string;
  /** Run the embedded demo. @default when odinw has no data and no model is given */
  demo?: boolean;
  /** Run folder. @default a new `runs/<suite>-<date>[-n]` that no earlier run uses */
  outDir?: string;
  /** Continue the run in `outDir` (which must be given), keeping finished images. @default false */
  resume?: boolean;
  /** Run one deterministic slice of the images. */
  shard?: Shard;
  /** Only the first N images of each task (a smoke run). */
  limit?: number;
  /** CPU threads per engine. @default the engine's */
  threads?: number;
  /** Compute precision. @default "fp32" */
  dtype?: Dtype;
  /** Let GPU engines run nodes on the CPU (reported in the record). @default false */
  allowCpuFallback?: boolean;
  /** Adapting protocols: adapted checkpoints, e.g. `ckpts/{task}/{shots}_{seed}.pth`. */
  checkpoints?: string;
  /** Adapting protocols: an external trainer command, or "native". @default "native" for prompt-tuning */
  trainer?: string;
  /** `trainer: "native"`: at most this many epochs. */
  epochs?: number;
  /**
   * `trainer: "native"`: peak memory each train graph may use, in bytes; graphs that do not fit
   * are recomputed by segments (models/train/recompute.ts). Part of the fingerprint when given.
   * @default 80% of the memory available when the run starts
   */
  trainMemoryBytes?: number;
  /** k-shot sampler of the trainers. @default "seeded" */
  sampler?: FewShotSampler;
  /**
   * Where the trainers' k-shot images come from: `sampled` by `sampler` from the train split, or
   * GLIP's `prepared` `fewshot_{train,val}_shot{k}_seed{s}.json` files (selection on their k-shot
   * val). @default "sampled"
   */
  fewShotSource?: KShotSource;
  /**
   * Shots of the adapting protocols: integers >= 1, or `"all"` (GLIP's full-data tuning, with its
   * patience 2 and 4 and one copy per epoch). 0 is refused: that is `protocol: "zero-shot"`.
   * @default [1, 3, 5, 10]
   */
  shots?: Shots[];
  /** Seeds of the adapting protocols. @default [3, 30, 300] */
  seeds?: number[];
  /**
   * The published model this checkpoint is (a key of reports/reference_numbers.ts'
   * PUBLISHED_MODELS), for runs whose checkpoint file name and digest are not recognised.
   */
  reference?: string;
  /** The command line recorded as provenance. @default ["runBenchmark"] */
  command?: string[];
  /** Let the engines' own logs reach stderr (onnxruntime-web's shader dumps). @default false */
  verbose?: boolean;
  /**
   * After the run, check its engine against onnxruntime-node CPU at full size and record it in
   * the run record's `engineParity` (benchmarks/bench_parity.ts). Zero-shot runs only; not part
   * of the fingerprint (it changes no detection). @default false
   */
  checkParity?: boolean;
  /** `checkParity`'s network input size. @default the bundle's largest input (800x1344 for GLIP) */
  paritySize?: { height: number; width: number };
  /** Progress lines. @default none */
  log?: (line: string) => void;
  /** Per-task progress (the CLI's bar). @default none */
  progress?: ProgressReporter;
  /** Warnings (a stale lock taken over). @default `console.error` */
  warn?: (line: string) => void;
}

/** One (model, engine) run of a benchmark. */
export interface BenchRun {
  /** Its run folder (holds run.json). */
  dir: string;
  /** Its run record (as written to run.json). */
  record: RunRecord;
  /** A resumed run that had nothing left to do: its folder was left exactly as it was. */
  unchanged: boolean;
}

/** What {@link runBenchmark} did. */
export interface BenchResult {
  /** The run folder (matrix runs: one sub-folder per model and engine). */
  outDir: string;
  /** The protocol that ran. */
  protocol: string;
  /** Whether the protocol adapted the model (few-shot, prompt-tuning). */
  adapted: boolean;
  /** One run per (model, engine), in the order they ran. */
  runs: BenchRun[];
}

/** The checks of the adapting protocols' options; returns the trainer that applies. */
function adaptationSource(options: BenchOptions, protocol: string, adapts: boolean) {
  // prompt tuning and linear probing run natively unless adapted weights come from elsewhere
  const trainer = options.trainer ??
    ((protocol === "prompt-tuning" || protocol === "linear-probe") && !options.checkpoints
      ? "native"
      : undefined);
  if (adapts && options.checkpoints && trainer) {
    throw new UsageError("bench: give either --checkpoints or --trainer, not both");
  }
  if (adapts && !options.checkpoints && !trainer) {
    throw new UsageError(
      `bench: the ${protocol} protocol needs adapted weights: give --checkpoints 'DIR/{task}/{shots}_{seed}.pth' ` +
        `(checkpoints trained elsewhere), --trainer 'COMMAND {task} {shots} {seed} {train_json} {out}' ` +
        `(an external trainer run per cell, e.g. GLIP's tools/finetune.py)` +
        (protocol === "prompt-tuning" || protocol === "linear-probe"
          ? ` or --trainer native (the suite's own ${protocol})`
          : ""),
    );
  }
  if (trainer && trainer !== "native") checkTrainerTemplate(trainer);
  if (adapts && options.shots !== undefined) checkShots(options.shots);
  if (options.epochs !== undefined && trainer !== "native") {
    throw new UsageError("bench: --epochs applies to --trainer native only");
  }
  if (options.trainMemoryBytes !== undefined) {
    if (trainer !== "native" || !adapts) {
      throw new UsageError("bench: --train-memory applies to --trainer native only");
    }
    if (!(options.trainMemoryBytes > 0)) {
      throw new UsageError(
        `bench: --train-memory must be a positive number of GB (got ${
          options.trainMemoryBytes / 1e9
        })`,
      );
    }
  }
  const sampler = options.sampler ?? "seeded";
  if (!FEW_SHOT_SAMPLERS.includes(sampler)) {
    throw new UsageError(unknownNameMessage("sampler", sampler, [...FEW_SHOT_SAMPLERS]));
  }
  const fewShotSource = options.fewShotSource ?? "sampled";
  if (!K_SHOT_SOURCES.includes(fewShotSource)) {
    throw new UsageError(unknownNameMessage("fewshot-source", fewShotSource, [...K_SHOT_SOURCES]));
  }
  if (fewShotSource === "prepared" && !(adapts && trainer)) {
    throw new UsageError(
      "bench: --fewshot-source prepared picks the images a trainer adapts on: it applies to " +
        "--trainer (native or a command) with an adapting protocol only",
    );
  }
  if (fewShotSource === "prepared" && options.sampler !== undefined) {
    throw new UsageError(
      "bench: --sampler draws k-shot images; --fewshot-source prepared reads them from GLIP's files: give one",
    );
  }
  if (fewShotSource === "prepared" && options.shots?.includes("all")) {
    throw new UsageError(
      "bench: --shots all trains on the whole train split; GLIP's prepared files are k-shot " +
        "subsets: drop 'all' or use --fewshot-source sampled",
    );
  }
  return { trainer, sampler, fewShotSource };
}

/** The refusals of `checkParity` and `paritySize`. */
function checkParityOptions(options: BenchOptions, protocol: string, adapts: boolean): void {
  if (options.paritySize && !options.checkParity) {
    throw new UsageError("bench: --parity-size applies to --check-parity; add --check-parity");
  }
  if (options.checkParity && adapts) {
    throw new UsageError(
      `bench: --check-parity checks the run's model, and ${protocol} evaluates adapted ` +
        "checkpoints: check the base model with --protocol zero-shot --check-parity",
    );
  }
  const size = options.paritySize;
  if (
    size && ![size.height, size.width].every((n) => Number.isInteger(n) && n >= 1 && n <= 8192)
  ) {
    throw new UsageError(
      `bench: the parity size must be integers from 1 to 8192 (got ${size.height}x${size.width})`,
    );
  }
}

/**
 * Runs a benchmark: every model on every engine over the suite's tasks. Usage errors (unknown
 * names, missing data or splits, a resume of something else) throw {@link UsageError} before
 * any inference; another writer in the run folder throws `RunLockedError`.
 *
 * @example Two images per task of the embedded demo, on onnxruntime-node
 * ```ts ignore
 * import { runBenchmark } from "./bench_run.ts";
 * const result = await runBenchmark({
 *   suite: "odinw",
 *   demo: true,
 *   limit: 2,
 *   engines: ["onnx"],
 *   outDir: "runs/smoke",
 * });
 * for (const { record } of result.runs) {
 *   console.log(record.engine.engine, record.summary.metric, record.summary.mean);
 * }
 * ```
 */
export async function runBenchmark(options: BenchOptions): Promise<BenchResult> {
  registerBuiltins();
  const log = options.log ?? (() => {});
  const warn = options.warn ?? ((line: string) => console.error(`warning: ${line}`));
  const suite = await suites.get(options.suite);
  if (suite.kind !== "detection") {
    throw new UsageError(
      `bench: the suite '${suite.name}' runs itself (a custom suite): call its run(), not runBenchmark`,
    );
  }
  const detectionSuite = suite;
  const protocol = options.protocol ?? "zero-shot";
  const { adapts } = await protocols.get(protocol);
  const { trainer, sampler, fewShotSource } = adaptationSource(options, protocol, adapts);
  const dtype = options.dtype ?? "fp32";
  if (dtype !== "fp32" && dtype !== "fp16") {
    throw new UsageError(`bench: --dtype is fp32 or fp16 (got '${dtype}')`);
  }
  // GLIP reports adapted models on test (the best-on-val checkpoint, tools/eval_all.py).
  const split = options.split ?? (adapts ? "test" : undefined);
  const engineNames = options.engines ?? ["onnx"];
  for (const name of engineNames) engines.entry(name);
  if (options.reference !== undefined) checkReferenceKey(options.reference);
  checkParityOptions(options, protocol, adapts);
  if (options.resume && !options.outDir) {
    throw new UsageError("bench: --resume continues the run in --out DIR; give --out");
  }
  const inputs = await resolveBenchInputs(suite, {
    models: options.models,
    modelConfig: options.modelConfig,
    tasks: options.tasks,
    set: options.set,
    prompt: options.prompt,
    split,
    dataRoot: options.dataRoot,
    demo: options.demo,
    adapts,
    log,
  });
  if (inputs.tasks.some(isServerEvaluated)) {
    if (adapts) {
      throw new UsageError(
        `bench: ${protocol} reports the adapted model on a scored split; COCO test-dev is scored only ` +
          "by the evaluation server: run it with --protocol zero-shot",
      );
    }
    if (options.shard) {
      throw new UsageError(
        "bench: COCO test-dev runs unsharded: its submission zip holds every image's detections",
      );
    }
  }
  let outDir = options.outDir;
  if (outDir) await Deno.mkdir(outDir, { recursive: true });
  else outDir = await claimNewRunDir(defaultRunDirBase(suite.name));
  const claimed = !options.outDir;
  const command = options.command ?? ["runBenchmark"];
  const lock = await acquireRunLock(outDir, { warn, command });
  try {
    return await runLocked(outDir);
  } catch (error) {
    await lock.release();
    // a new default folder that a failed run left empty goes (a non-recursive remove keeps
    // anything written)
    if (claimed) await Deno.remove(outDir).catch(() => {});
    throw error;
  } finally {
    await lock.release();
  }

  async function runLocked(outDir: string): Promise<BenchResult> {
    if (adapts) {
      const runs = await runAdaptedBenchmark({
        ...options,
        protocol,
        trainer,
        sampler,
        fewShotSource,
        dtype,
        engineNames,
        tasks: inputs.tasks,
        models: inputs.models,
        demo: inputs.demo,
        rootPath: inputs.dataRootPath,
        suite: detectionSuite,
        outDir,
        resume: options.resume ?? false,
        command,
        log,
      });
      return { outDir, protocol, adapted: true, runs };
    }
    const runs: BenchRun[] = [];
    const matrix = inputs.models.length * engineNames.length > 1;
    for (const model of inputs.models) {
      for (const engineName of engineNames) {
        const dir = matrix ? join(outDir, `${model.label}__${engineName}`) : outDir;
        runs.push(
          await runOne({
            options,
            suite: detectionSuite,
            protocol,
            tasks: inputs.tasks,
            model,
            engineName,
            dir,
            demo: inputs.demo,
            dataRootPath: inputs.dataRootPath,
            dtype,
            command,
            log,
          }),
        );
      }
    }
    return { outDir, protocol, adapted: false, runs };
  }
}

/** One model on one engine, zero-shot, in run folder `dir`. */
async function runOne(input: {
  options: BenchOptions;
  suite: DetectionSuite;
  protocol: string;
  tasks: DetectionTask[];
  model: BenchModel;
  engineName: string;
  dir: string;
  demo: boolean;
  dataRootPath: string;
  dtype: Dtype;
  command: string[];
  log: (line: string) => void;
}): Promise<BenchRun> {
  const { options, model, dir, engineName } = input;
  const { shard, limit } = options;
  const resume = options.resume ?? false;
  // Fail before inference when the bundle cannot hold a task's prompts.
  const prepared: PreparedTask[] = [];
  for (const task of input.tasks) {
    prepared.push(await prepareTask(task, { bundle: model.bundle, outDir: dir, shard, limit }));
  }
  const factory = await engines.get(engineName);
  const availability = await factory.probe();
  if (!availability.available) {
    throw new UsageError(
      `bench: engine '${engineName}' is not available here: ${availability.reason}`,
    );
  }
  const allowCpuFallback = options.allowCpuFallback ?? false;
  const engine = await factory.create(model.bundle, {
    threads: options.threads,
    allowCpuFallback,
    dtype: input.dtype,
    verbose: options.verbose,
  });
  let description = engine.describe();
  let segments: RunSegments | undefined;
  const request: BenchRequest = {
    suite: input.suite.name,
    protocol: input.protocol,
    engine: engineName,
    ...(model.spec ? { model: resolve(model.spec) } : {}),
    ...(options.modelConfig ? { modelConfig: options.modelConfig } : {}),
    tasks: input.tasks.map((t) => t.name),
    ...(options.set ? { set: options.set } : {}),
    ...(options.prompt ? { prompt: options.prompt } : {}),
    ...(options.split ? { split: options.split } : {}),
    ...(input.demo ? {} : { dataRoot: resolve(input.dataRootPath) }),
    demo: input.demo,
    ...(limit ? { limit } : {}),
    ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    dtype: input.dtype,
    allowCpuFallback,
  };
  const fingerprint = await runFingerprint({
    suite: input.suite.name,
    protocol: input.protocol,
    taskSet: options.set ?? input.suite.defaults.set,
    promptVariant: options.prompt ?? input.suite.defaults.prompt ?? "raw",
    prepared,
    bundle: model.bundle,
    requestedEngine: engineName,
    engine: description,
    allowCpuFallback,
    limit,
    shard,
    demo: input.demo,
    request,
  });
  try {
    await Deno.mkdir(join(dir, "detections"), { recursive: true });
    await claimFingerprint(dir, fingerprint, {
      resume,
      detectionsFiles: prepared.map((p) => p.detectionsFile),
    });
    segments = await RunSegments.open(dir, { resume });
    const timing = segments;
    for (const task of prepared) {
      await runInference(task, {
        engine,
        bundle: model.bundle,
        timer: timing.timer,
        outDir: dir,
        resume,
        shard,
        limit,
        onImageStored: () => timing.imageStored(),
        progress: options.progress,
      });
    }
    description = engine.describe();
  } catch (error) {
    if (segments && segments.images > 0) await segments.save();
    throw error;
  } finally {
    await engine.dispose();
  }
  const recordPath = join(dir, "run.json");
  // After the engine is gone (a full-size check holds a second copy of the model) and after the
  // run's timings end (the check's time and memory are not the run's).
  const checkParity = () =>
    checkRunParity({
      bundle: model.bundle,
      engineName,
      description,
      dtype: input.dtype,
      size: options.paritySize,
      threads: options.threads,
      allowCpuFallback,
      shard: shard && `${shard.index}/${shard.count}`,
      log: input.log,
    });
  if (resume && segments.images === 0 && await pathExists(recordPath)) {
    // Nothing was left to run: a finished run stays exactly as it was (timings included),
    // but for a parity check asked for now.
    const existing = await readRunRecord(recordPath);
    if (
      existing.fingerprint && fingerprintDifferences(existing.fingerprint, fingerprint).length === 0
    ) {
      if (!options.checkParity) {
        input.log(`nothing left to run in ${dir}: its run record is unchanged`);
        return { dir, record: existing, unchanged: true };
      }
      existing.engineParity = [...existing.engineParity ?? [], await checkParity()];
      await writeRunRecord(recordPath, existing);
      input.log(`nothing left to run in ${dir}: its run record gained a parity check`);
      return { dir, record: existing, unchanged: false };
    }
  }
  const taskResults = [];
  for (const task of prepared) {
    // test-dev has no public annotations: the evaluation server scores it, nothing here does
    const scored = !shard && !isServerEvaluated(task.task);
    taskResults.push(taskResult(task, scored ? await scoreTask(task) : undefined, dir));
  }
  const timings = await segments.finish();
  const parity = options.checkParity ? await checkParity() : undefined;
  const record = await buildRunRecord({
    suite: input.suite.name,
    protocol: input.protocol,
    model,
    engineDescription: description,
    prepared,
    taskResults,
    timings,
    rootPath: input.dataRootPath,
    demo: input.demo,
    shard,
    limit,
    prompt: options.prompt ?? "raw",
    fingerprint,
    command: input.command,
    reference: options.reference,
  });
  const checks = [
    ...(resume ? await earlierParityChecks(recordPath) : []),
    ...(parity ? [parity] : []),
  ];
  if (checks.length) record.engineParity = checks;
  const serverTasks = prepared.filter((p) => isServerEvaluated(p.task));
  for (const task of serverTasks) {
    const zip = await writeTestDevSubmission(
      join(dir, "submission"),
      model.label,
      await storedDetections([task.detectionsFile], task.imageIds),
    );
    record.summary.metric = "none: COCO test-dev is scored by the evaluation server";
    record.settings.deliberateDifferences.push(`${SERVER_ONLY_NOTE}: ${zip}`);
    input.log(`${SERVER_ONLY_NOTE}: ${zip}`);
  }
  await writeRunRecord(recordPath, record);
  await writeEvaluatorFiles(prepared);
  if (input.suite.name === "odinw" && !shard) {
    await writeLeaderboard(
      dir,
      prepared.map((p) => p.task),
      await zeroShotSubmission(prepared),
      input.log,
    );
  }
  input.log(`run record: ${recordPath}`);
  return { dir, record, unchanged: false };
}
