/**
 * The adapting protocols of a benchmark run (few-shot, prompt-tuning): per engine, the base
 * model's zero-shot point on the same split, then every (task, shots, seed) cell adapted by
 * checkpoints from elsewhere, an external trainer or the native tuner, and one run record with
 * the mean ± std over seeds per shot count. Called by `runBenchmark`, which holds the run lock.
 *
 * @module
 */
import { join, relative, resolve } from "node:path";
import { UsageError } from "../core/errors.ts";
import { engines } from "../core/registries.ts";
import type { Dtype, EngineDescription } from "../engines/engine.ts";
import { type FewShotSampler, type KShotSource, preparedFewShotCell } from "../datasets/fewshot.ts";
import { sha256File } from "../core/hash.ts";
import type { ModelBundle } from "../models/bundle.ts";
import {
  checkpointPath,
  headlineShots,
  runAdaptation,
  type Shots,
  summarizeByShots,
} from "./adaptation.ts";
import type { BenchModel } from "./bench_inputs.ts";
import { buildRunRecord, writeLeaderboard } from "./bench_record.ts";
import type { BenchRun } from "./bench_run.ts";
import { resolveModel } from "./models.ts";
import { type NativeMode, trainingRuntime } from "./native_trainer.ts";
import { defaultMemoryBudgetBytes } from "../models/train/recompute.ts";
import { readRunRecord, type RunRecord, writeRunRecord } from "./run_record.ts";
import { RunSegments } from "./run_segments.ts";
import {
  claimFingerprint,
  fingerprintDifferences,
  readFingerprint,
  type RunFingerprint,
  runFingerprint,
} from "./run_fingerprint.ts";
import { pathExists } from "../core/fs.ts";
import { prepareTask, type ProgressReporter, runInference, scoreTask } from "./runner.ts";
import type { DetectionSuite, DetectionTask } from "./suite.ts";

/** What an adapting run needs (resolved by `runBenchmark`). */
export interface AdaptedBenchInput {
  protocol: string;
  suite: DetectionSuite;
  tasks: DetectionTask[];
  models: BenchModel[];
  engineNames: string[];
  outDir: string;
  resume: boolean;
  demo: boolean;
  rootPath: string;
  trainer?: string;
  sampler: FewShotSampler;
  /** Where the trainers' k-shot images come from. @default "sampled" */
  fewShotSource?: KShotSource;
  dtype: Dtype;
  checkpoints?: string;
  epochs?: number;
  /** Native trainer: peak memory of each train graph in bytes. @default 80% of what is available */
  trainMemoryBytes?: number;
  shots?: Shots[];
  seeds?: number[];
  limit?: number;
  threads?: number;
  allowCpuFallback?: boolean;
  modelConfig?: string;
  set?: string;
  prompt?: string;
  split?: string;
  /** `--reference KEY`: the published model the user says this checkpoint is. */
  reference?: string;
  /** Let the engines' own logs reach stderr. */
  verbose?: boolean;
  command: string[];
  log: (line: string) => void;
  progress?: ProgressReporter;
}

/**
 * `--epochs` may grow on resume (the native trainer continues each unfinished cell from its last
 * epoch, to what an uninterrupted run with the larger cap gives), never shrink: cells trained
 * under a larger cap would be described by the smaller one.
 */
async function checkEpochCap(dir: string, epochs: number | undefined): Promise<void> {
  const stored = await readFingerprint(dir);
  if (!stored) return;
  const before = stored.request.epochs ?? Infinity;
  const now = epochs ?? Infinity;
  if (now < before) {
    throw new UsageError(
      `bench --resume: ${dir} was started with --epochs ${
        before === Infinity ? "(GLIP's 200)" : before
      }; resuming with ${now} would describe cells trained longer than that. Resume with --epochs ${
        before === Infinity ? "unset" : `${before} or more`
      }, or choose another --out`,
    );
  }
}

/**
 * The native trainer's memory budget for the run in `dir`: `--train-memory` when given; on
 * `--resume`, the budget the run started with (its fingerprint holds it, the default resolved
 * then included, so a resume plans the same segments wherever it runs); else the default, 80% of
 * the memory available now. `recordTrainMemory` says whether the fingerprint holds it: always for
 * the native trainer, except when resuming a run whose fingerprint predates the field.
 */
async function trainMemoryBudget(
  input: AdaptedBenchInput,
  dir: string,
): Promise<{ trainMemoryBytes: number; recordTrainMemory: boolean }> {
  const stored = input.resume ? await readFingerprint(dir) : undefined;
  const storedBudget = stored?.adaptation?.trainMemoryBytes;
  const startedWith = typeof storedBudget === "number" ? storedBudget : undefined;
  return {
    trainMemoryBytes: input.trainMemoryBytes ?? startedWith ?? defaultMemoryBudgetBytes(),
    recordTrainMemory: input.trainer === "native" &&
      (input.trainMemoryBytes !== undefined || startedWith !== undefined || !stored),
  };
}

/** Runs an adapting protocol on every engine; returns a run per engine. */
export async function runAdaptedBenchmark(input: AdaptedBenchInput): Promise<BenchRun[]> {
  const shots = input.shots ?? [1, 3, 5, 10];
  const seeds = input.seeds ?? [3, 30, 300];
  const pattern = input.checkpoints;
  const { trainer, sampler, epochs } = input;
  const nativeBase = (base: { bundle: ModelBundle } | undefined): ModelBundle => {
    if (!base) {
      throw new UsageError("bench: --trainer native tunes the prompt of --model; give one");
    }
    return base.bundle;
  };
  const fewShotSource = input.fewShotSource ?? "sampled";
  // GLIP's prepared files: all present before anything runs, and their digests in the
  // fingerprint, so a resume with changed files is refused.
  const preparedFiles = fewShotSource === "prepared"
    ? await preparedFileDigests(input.tasks, shots, seeds, input.rootPath)
    : undefined;
  const records: BenchRun[] = [];
  for (const engineName of input.engineNames) {
    const dir = input.engineNames.length > 1 ? join(input.outDir, engineName) : input.outDir;
    const factory = await engines.get(engineName);
    const availability = await factory.probe();
    if (!availability.available) {
      throw new UsageError(
        `bench: engine '${engineName}' is not available here: ${availability.reason}`,
      );
    }
    const engineOptions = {
      threads: input.threads,
      allowCpuFallback: input.allowCpuFallback ?? false,
      dtype: input.dtype,
      verbose: input.verbose,
    };
    await Deno.mkdir(dir, { recursive: true });
    const { trainMemoryBytes, recordTrainMemory } = await trainMemoryBudget(input, dir);
    // The 0-shot point of the curve: the base model (--model, or the demo's nano) on the same split.
    const base = input.models[0];
    const zeroShotDir = join(dir, "zero-shot");
    const prepared = [];
    for (const task of base ? input.tasks : []) {
      prepared.push(
        await prepareTask(task, { bundle: base!.bundle, outDir: zeroShotDir, limit: input.limit }),
      );
    }
    const engine = base ? await factory.create(base.bundle, engineOptions) : undefined;
    const zeroShot = new Map<string, RunRecord["tasks"][number]["result"]>();
    let description: EngineDescription | undefined;
    let segments: RunSegments;
    let fingerprint: RunFingerprint;
    try {
      fingerprint = await runFingerprint({
        suite: input.suite.name,
        protocol: input.protocol,
        taskSet: input.set ?? input.suite.defaults.set,
        promptVariant: input.prompt ?? input.suite.defaults.prompt ?? "raw",
        prepared,
        bundle: base?.bundle,
        requestedEngine: engineName,
        // without a base model each cell creates its own engine: the request is what is known
        engine: engine?.describe() ??
          { engine: engineName, executionProvider: "(chosen per cell)", dtype: input.dtype },
        allowCpuFallback: engineOptions.allowCpuFallback,
        limit: input.limit,
        demo: input.demo,
        adaptation: {
          tasks: input.tasks.map((t) => `${t.name}:${t.split}`),
          shots,
          seeds,
          checkpoints: pattern ?? null,
          trainer: trainer ?? null,
          sampler,
          ...(fewShotSource === "prepared" ? { fewShotSource, preparedFiles } : {}),
          // a different budget may plan other segments, whose gradients differ in float32
          // rounding: a resume keeps the budget it was started with
          ...(recordTrainMemory ? { trainMemoryBytes } : {}),
        },
        request: {
          suite: input.suite.name,
          protocol: input.protocol,
          engine: engineName,
          ...(base?.spec ? { model: resolve(base.spec) } : {}),
          ...(input.modelConfig ? { modelConfig: input.modelConfig } : {}),
          tasks: input.tasks.map((t) => t.name),
          ...(input.set ? { set: input.set } : {}),
          ...(input.prompt ? { prompt: input.prompt } : {}),
          ...(input.split ? { split: input.split } : {}),
          ...(input.demo ? {} : { dataRoot: resolve(input.rootPath) }),
          demo: input.demo,
          ...(input.limit ? { limit: input.limit } : {}),
          ...(input.threads ? { threads: input.threads } : {}),
          dtype: input.dtype,
          allowCpuFallback: engineOptions.allowCpuFallback,
          ...(epochs !== undefined ? { epochs } : {}),
          ...(input.trainMemoryBytes !== undefined
            ? { trainMemoryBytes: input.trainMemoryBytes }
            : {}),
        },
      });
      if (input.resume) await checkEpochCap(dir, epochs);
      await claimFingerprint(dir, fingerprint, {
        resume: input.resume,
        detectionsFiles: prepared.map((p) => p.detectionsFile),
      });
      segments = await RunSegments.open(dir, { resume: input.resume });
      for (const task of engine ? prepared : []) {
        await runInference(task, {
          engine: engine!,
          bundle: base!.bundle,
          timer: segments.timer,
          outDir: zeroShotDir,
          resume: input.resume,
          limit: input.limit,
          onImageStored: () => segments.imageStored(),
          progress: input.progress,
        });
        zeroShot.set(task.task.name, await scoreTask(task));
      }
      description = engine?.describe();
    } finally {
      await engine?.dispose();
    }
    const timer = segments.timer;
    const adaptation = await runAdaptation({
      tasks: input.tasks,
      shots,
      seeds,
      source: pattern ? { pattern } : trainer === "native"
        ? {
          native: {
            mode: nativeMode(input.protocol),
            bundle: nativeBase(base),
            outDir: dir,
            sampler,
            fewShotSource,
            overrides: epochs === undefined ? {} : { maxEpochs: epochs },
            memoryBudgetBytes: trainMemoryBytes,
            log: input.log,
          },
        }
        : {
          trainer: { template: trainer!, outDir: dir, sampler, fewShotSource, log: input.log },
        },
      factory,
      engineOptions,
      resolveModel: (spec) => resolveModel(spec, input.modelConfig ?? "glip-t", input.log),
      timer,
      outDir: dir,
      resume: input.resume,
      limit: input.limit,
    });
    segments.countImages(adaptation.imagesRun);
    const recordPath = join(dir, "run.json");
    if (input.resume && segments.images === 0 && await pathExists(recordPath)) {
      // Nothing was left to run or train: a finished run stays exactly as it was.
      const existing = await readRunRecord(recordPath);
      if (
        existing.fingerprint &&
        fingerprintDifferences(existing.fingerprint, fingerprint).length === 0
      ) {
        input.log(`nothing left to run in ${dir}: its run record is unchanged`);
        records.push({ dir, record: existing, unchanged: true });
        continue;
      }
    }
    if (input.suite.name === "odinw") {
      for (const [shots, byTask] of adaptation.detections) {
        if (shots !== "all") {
          await writeLeaderboard(dir, input.tasks, byTask, input.log, Number(shots));
          continue;
        }
        // the leaderboard's full-shot file holds one model's results per dataset: one file per
        // seed (in its own folder when there are several), never seeds folded into one
        for (const seed of seeds) {
          await writeLeaderboard(
            seeds.length === 1 ? dir : join(dir, `seed-${seed}`),
            input.tasks,
            Object.fromEntries(Object.entries(byTask).map(([t, s]) => [t, s[String(seed)]])),
            input.log,
            "all",
          );
        }
      }
    }
    const taskResults = adaptation.tasks.map((t) => ({ ...t, result: zeroShot.get(t.name) }));
    const firstBundle = base?.bundle ??
      await resolveModel(
        adaptation.tasks[0]?.cells?.[0]?.checkpoint?.path ??
          checkpointPath(pattern ?? "", input.tasks[0].name, shots[0], seeds[0]),
        input.modelConfig ?? "glip-t",
      );
    const engineDescription = description ?? adaptation.engineDescription;
    if (!engineDescription) {
      throw new Error(`bench: no engine ran in ${dir} (no task, shot or seed to evaluate)`);
    }
    const timings = await segments.finish();
    const record = await buildRunRecord({
      suite: input.suite.name,
      protocol: input.protocol,
      model: base ?? { label: "adapted", bundle: firstBundle },
      engineDescription,
      prepared: [],
      taskResults,
      timings,
      rootPath: input.rootPath,
      demo: input.demo,
      limit: input.limit,
      prompt: input.prompt ?? "raw",
      annotationFiles: input.tasks.map((t) => t.annotationFile),
      fingerprint,
      command: input.command,
      reference: input.reference,
    });
    const byShots = summarizeByShots(taskResults);
    const largest = String(headlineShots(shots));
    record.summary = {
      ...record.summary,
      mean: byShots[largest]?.mean ?? -1,
      metric: `AP (${largest === "all" ? "full data" : `${largest}-shot`}, mean over seeds)`,
      byShots,
    };
    record.settings.shots = shots;
    record.settings.seeds = seeds;
    if (!pattern) record.settings.fewShotSource = fewShotSource;
    record.settings.split = input.tasks.map((t) => `${t.name}:${t.split}`).join(", ");
    record.settings.deliberateDifferences.push(
      pattern
        ? `Adapted checkpoints come from ${pattern}; model selection on val (GLIP keeps the best-on-val checkpoint) happened where they were trained. Each is evaluated on ${
          input.tasks[0]?.split ?? "test"
        }.`
        : trainer === "native" && input.protocol === "linear-probe"
        ? `Linear-probed by the suite's native trainer (GLIP's linear_prob override: image backbone, FPN, ` +
          `language backbone and the DyHead tower with its fusion frozen; trained are the head parameters ` +
          `whose names contain bbox_pred, centerness, dot_product_projection_text, log_scale, bias_lang or ` +
          `bias0; the fine-tuning command's AdamW lr 1e-4, biases x2 lr without weight decay, weight decay ` +
          `0.05, batch 4 by gradient accumulation, multi-scale short side and flip, grad clip 1.0, plateau ` +
          `and early stopping on val AP${
            epochs === undefined ? "" : `, at most ${epochs} epochs instead of 200`
          }) in float32 where GLIP uses AMP; GLIP's README gives no linear-probe command, so its ` +
          `hyper-parameters are the full-tuning command's with the override changed; ${
            kShotWords(fewShotSource, sampler)
          }; the best-on-val model is evaluated on ${input.tasks[0]?.split ?? "test"}.`
        : trainer === "native" && input.protocol !== "prompt-tuning"
        ? `Fully tuned by the suite's native trainer (GLIP's full override: AdamW lr 1e-4, language backbone 1e-5, ` +
          `biases x2 lr without weight decay, weight decay 0.05, Swin patch embedding and stage 1 frozen, batch 4 by ` +
          `gradient accumulation, multi-scale short side and flip, grad clip 1.0, plateau and early stopping on val AP` +
          `${
            epochs === undefined ? "" : `, at most ${epochs} epochs instead of 200`
          }) in float32 where GLIP uses AMP; ` +
          `Swin's relative position bias stays frozen (our graphs hold it expanded); ${
            kShotWords(fewShotSource, sampler)
          }; the best-on-val model is evaluated on ${input.tasks[0]?.split ?? "test"}.`
        : trainer === "native"
        ? `Prompt-tuned by the suite's native trainer (GLIP's language_prompt_v2: AdamW lr 0.05, weight decay 0.25, ` +
          `batch 4 by gradient accumulation, multi-scale short side and flip, grad clip 1.0, plateau and early stopping on val AP` +
          `${
            epochs === undefined ? "" : `, at most ${epochs} epochs instead of 200`
          }) in float32 where GLIP uses AMP; ${
            kShotWords(fewShotSource, sampler)
          }; the best-on-val prompt is evaluated on ${input.tasks[0]?.split ?? "test"}.`
        : `Adapted by the external trainer '${trainer}'; ${
          kShotWords(fewShotSource, sampler)
        }; model selection is the trainer's; each checkpoint is evaluated on ${
          input.tasks[0]?.split ?? "test"
        }.`,
    );
    if (trainer === "native") {
      record.settings.deliberateDifferences.push(
        `Training graphs ran on ${
          trainingRuntime(engineName, engineOptions).description
        }; model selection on val and the test evaluation ran on the ${engineName} engine. ` +
          `Each train graph was planned for a memory budget of ${
            (trainMemoryBytes / 1e9).toFixed(2)
          } GB (${
            input.trainMemoryBytes === undefined
              ? "80% of the memory available when the run started; --train-memory sets it"
              : "--train-memory"
          }); a graph over it is recomputed by segments (gradients equal within float32 ` +
          `rounding); each cell's memory field lists its graphs' segments and planned peaks.`,
      );
    }
    record.taskSpecs = input.tasks.map((t) => ({ ...t, card: undefined }));
    await writeRunRecord(join(dir, "run.json"), record);
    records.push({ dir, record, unchanged: false });
    input.log(`run record: ${join(dir, "run.json")}`);
  }
  return records;
}

/** The native trainer of an adapting protocol. */
function nativeMode(protocol: string): NativeMode {
  if (protocol === "prompt-tuning") return "prompt";
  if (protocol === "linear-probe") return "linear-probe";
  return "full";
}

/** The record's words for where the k-shot images came from. */
function kShotWords(source: KShotSource, sampler: FewShotSampler): string {
  if (source === "prepared") {
    return "k-shot images from GLIP's prepared fewshot_train_shot{k}_seed{s}.json files " +
      "(--use_prepared_data, the ODinW challenge's subsets), model selection on the matching " +
      "fewshot_val files (GLIP evaluates the 1- and 3-shot val 4 times over, GENERAL_COPY_TEST 4; " +
      "the suite evaluates it once)";
  }
  return `k-shot images drawn by GLIP's ${sampler} sampler (${
    sampler === "seeded"
      ? "COCODataset: shuffled by the seed"
      : "CocoGrounding, the README's _grounding path: the same images for every seed"
  }) from the train split, model selection on the full val split`;
}

/**
 * The prepared k-shot files of every (task, shots, seed) cell, by path relative to the data root,
 * with their sha256; a task without them or a missing file fails before anything runs.
 */
async function preparedFileDigests(
  tasks: DetectionTask[],
  shots: Shots[],
  seeds: number[],
  root: string,
): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const task of tasks) {
    for (const k of shots) {
      for (const seed of seeds) {
        const cell = await preparedFewShotCell(task, k, seed);
        for (const path of [cell.train, cell.val]) {
          digests[relative(resolve(root), resolve(path))] = await sha256File(path);
        }
      }
    }
  }
  return digests;
}
