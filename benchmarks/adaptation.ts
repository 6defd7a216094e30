/**
 * The few-shot and prompt-tuning protocols with adapted weights from elsewhere: for each task,
 * shots k and seed s, the checkpoint named by `--checkpoints 'DIR/{task}/{shots}_{seed}.pth'`
 * (a `.pth` exported on first use, or a bundle folder) is evaluated on the task's test split, as
 * GLIP reports the best-on-val checkpoint on test (`tools/eval_all.py`); the run record keeps every
 * (k, s) cell and the mean ± std over seeds.
 *
 * @module
 */
import { join } from "node:path";
import type { EngineDescription, EngineFactory, EngineOptions } from "../engines/engine.ts";
import { bundleDigest, type ModelBundle } from "../models/bundle.ts";
import { UsageError } from "../core/errors.ts";
import type { DetectionTask } from "./suite.ts";
import type { AdaptationCell, TaskResult } from "./run_record.ts";
import { meanAndStd } from "./run_record.ts";
import { prepareTask, runInference, scoreTask, storedDetections, taskResult } from "./runner.ts";
import type { CocoDetection } from "./metrics/coco.ts";
import type { StageTimer } from "./stage_timer.ts";
import { sha256Hex } from "./provenance.ts";
import { trainCell, type TrainerOptions } from "./external_trainer.ts";
import {
  loadPromptOffset,
  type NativeMode,
  type NativeTrainerOptions,
  trainFullCell,
  trainLinearProbeCell,
  trainPromptCell,
} from "./native_trainer.ts";

/** A shot count: k images per category (k >= 1), or `"all"`, GLIP's full-data setting (`0_200_1`). */
export type Shots = number | "all";

/**
 * Checks the shot counts of an adapting protocol: integers >= 1 or `"all"`. Zero shots is the
 * zero-shot protocol, which is refused with a pointer to it (GLIP's `0` in `{shot}_{epoch}_{copy}`
 * means full data, a meaning too easy to confuse to accept).
 *
 * @throws {UsageError} naming the flag and the value.
 */
export function checkShots(shots: readonly Shots[], flag = "--shots"): void {
  if (shots.length === 0) throw new UsageError(`bench: ${flag} names no shot count`);
  for (const k of shots) {
    if (k === "all") continue;
    if (k === 0) {
      throw new UsageError(
        `bench: ${flag} 0 is the zero-shot protocol: run --protocol zero-shot (no adaptation), ` +
          `or give shot counts >= 1, or 'all' for GLIP's full-data tuning`,
      );
    }
    if (!Number.isInteger(k) || k < 1) {
      throw new UsageError(
        `bench: ${flag} takes integers >= 1 or 'all' (got ${JSON.stringify(k)})`,
      );
    }
  }
  const seen = new Set(shots.map(String));
  if (seen.size !== shots.length) {
    throw new UsageError(`bench: ${flag} names a shot count twice (got ${shots.join(",")})`);
  }
}

/**
 * Parses shot counts as given on the command line (`1,3,all`) and checks them with
 * {@link checkShots}.
 */
export function parseShots(items: readonly string[], flag = "--shots"): Shots[] {
  const shots = items.map((item): Shots => {
    const trimmed = item.trim();
    if (trimmed.toLowerCase() === "all") return "all";
    const value = Number(trimmed);
    if (trimmed === "" || !Number.isInteger(value)) {
      throw new UsageError(`bench: ${flag} takes integers >= 1 or 'all' (got '${item}')`);
    }
    return value;
  });
  checkShots(shots, flag);
  return shots;
}

/** The shot count a run's headline reports: `"all"` when it ran, else the largest k. */
export function headlineShots(shots: readonly Shots[]): Shots {
  return shots.includes("all") ? "all" : Math.max(...(shots as number[]));
}

/** Fills a checkpoint pattern: `{task}`, `{shots}` (`all` for full data), `{seed}`. */
export function checkpointPath(
  pattern: string,
  task: string,
  shots: Shots,
  seed: number,
): string {
  return pattern.replaceAll("{task}", task).replaceAll("{shots}", String(shots)).replaceAll(
    "{seed}",
    String(seed),
  );
}

/** What the adaptation run needs. */
export interface AdaptationOptions {
  tasks: DetectionTask[];
  shots: Shots[];
  seeds: number[];
  /**
   * Where the adapted weights come from: a checkpoint pattern, an external trainer, or the
   * native prompt tuner (whose prompt checkpoints apply to its base bundle).
   */
  source:
    | { pattern: string }
    | { trainer: TrainerOptions }
    | {
      native: Omit<NativeTrainerOptions, "factory" | "engineOptions" | "timer"> & {
        mode: NativeMode;
      };
    };
  factory: EngineFactory;
  engineOptions: EngineOptions;
  resolveModel: (spec: string) => Promise<ModelBundle>;
  timer: StageTimer;
  outDir: string;
  resume: boolean;
  limit?: number;
}

/** Evaluates every (task, shots, seed) checkpoint; returns per-task results with their cells. */
export async function runAdaptation(
  options: AdaptationOptions,
): Promise<{
  tasks: TaskResult[];
  imagesRun: number;
  engineDescription?: EngineDescription;
  /** COCO-format detections of every cell: shots -> task -> seed -> detections. */
  detections: Map<string, Record<string, Record<string, CocoDetection[]>>>;
}> {
  // Fail before any inference when a checkpoint is missing.
  const missing: string[] = [];
  const source = options.source;
  type Adapted = {
    path: string;
    promptOffset?: Float32Array;
    valAP?: number;
    history?: AdaptationCell["history"];
    memory?: AdaptationCell["memory"];
  };
  const adapt = async (
    task: DetectionTask,
    shots: number | "all",
    seed: number,
  ): Promise<Adapted> => {
    if ("pattern" in source) {
      return { path: checkpointPath(source.pattern, task.name, shots, seed) };
    }
    if ("trainer" in source) {
      return { path: await trainCell({ task, shots, seed }, source.trainer) };
    }
    const native = {
      ...source.native,
      factory: options.factory,
      engineOptions: options.engineOptions,
      timer: options.timer,
    };
    const train = {
      "full": trainFullCell,
      "linear-probe": trainLinearProbeCell,
      "prompt": trainPromptCell,
    }[source.native.mode];
    const trained = await train({ task, shots, seed }, native);
    const { manifest } = source.native.bundle;
    return {
      path: trained.checkpoint,
      promptOffset: source.native.mode === "prompt"
        ? await loadPromptOffset(trained.checkpoint, manifest.maxQueryLength, manifest.textWidth)
        : undefined,
      valAP: trained.bestValAp,
      memory: trained.memory,
      history: [
        { step: 0, valAP: trained.zeroShotValAp },
        ...trained.epochs.map((e) => ({ step: e.epoch, loss: e.meanLoss, valAP: e.valAp })),
      ],
    };
  };
  for (const task of "pattern" in source ? options.tasks : []) {
    for (const shots of options.shots) {
      for (const seed of options.seeds) {
        const path = checkpointPath(
          (source as { pattern: string }).pattern,
          task.name,
          shots,
          seed,
        );
        try {
          await Deno.stat(path);
        } catch {
          missing.push(path);
        }
      }
    }
  }
  if (missing.length > 0) {
    throw new UsageError(
      `--checkpoints: ${missing.length} checkpoint(s) missing, e.g. ${
        missing.slice(0, 3).join(", ")
      }`,
    );
  }
  const results: TaskResult[] = [];
  let imagesRun = 0;
  let engineDescription: EngineDescription | undefined;
  const detections = new Map<string, Record<string, Record<string, CocoDetection[]>>>();
  for (const task of options.tasks) {
    const cells: AdaptationCell[] = [];
    let template: TaskResult | undefined;
    for (const shots of options.shots) {
      for (const seed of options.seeds) {
        const adapted = await adapt(task, shots, seed);
        const path = adapted.path;
        // a tuned prompt applies to the base bundle; every other checkpoint is a model of its own
        const bundle = adapted.promptOffset
          ? (source as { native: { bundle: ModelBundle } }).native.bundle
          : await options.resolveModel(path);
        const sha256 = adapted.promptOffset
          ? await sha256Hex(await Deno.readFile(path))
          : bundle.manifest.source.sha256 ?? await bundleDigest(bundle.manifest);
        // detections belong to one checkpoint: a retrained cell never reuses stale ones
        const cellDir = join(options.outDir, "cells", `${shots}_${seed}`, sha256.slice(0, 16));
        const prepared = await prepareTask(task, { bundle, outDir: cellDir, limit: options.limit });
        const engine = await options.factory.create(bundle, options.engineOptions);
        try {
          imagesRun += (await runInference(prepared, {
            engine,
            bundle,
            timer: options.timer,
            outDir: cellDir,
            resume: options.resume,
            limit: options.limit,
            promptOffset: adapted.promptOffset,
          })).images;
          engineDescription ??= engine.describe();
        } finally {
          await engine.dispose();
        }
        const test = await scoreTask(prepared);
        if (!prepared.grounding) {
          const byTask = detections.get(String(shots)) ??
            detections.set(String(shots), {}).get(String(shots))!;
          (byTask[task.name] ??= {})[String(seed)] = await storedDetections(
            [prepared.detectionsFile],
            prepared.imageIds,
          );
        }
        template ??= taskResult(prepared, undefined, options.outDir);
        cells.push({
          shots,
          seed,
          checkpoint: {
            path,
            sha256,
          },
          ...(adapted.valAP !== undefined ? { valAP: adapted.valAP } : {}),
          ...(adapted.history ? { history: adapted.history } : {}),
          ...(adapted.memory ? { memory: adapted.memory } : {}),
          test,
        });
      }
    }
    results.push({ ...template!, cells });
  }
  return { tasks: results, imagesRun, engineDescription, detections };
}

/** Mean ± std over seeds of the suite average, per shot count. */
export function summarizeByShots(
  tasks: TaskResult[],
): Record<string, { mean: number; std: number }> {
  const byShots: Record<string, { mean: number; std: number }> = {};
  const shots = [...new Set(tasks.flatMap((t) => (t.cells ?? []).map((c) => String(c.shots))))];
  for (const k of shots) {
    const seeds = [
      ...new Set(
        tasks.flatMap((t) =>
          (t.cells ?? []).filter((c) => String(c.shots) === k).map((c) => c.seed)
        ),
      ),
    ];
    const averages = seeds.map((seed) => {
      const values = tasks.map((t) =>
        t.cells?.find((c) => String(c.shots) === k && c.seed === seed)?.test.headline ?? -1
      ).filter((v) => v >= 0);
      return values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
    });
    byShots[k] = meanAndStd(averages);
  }
  return byShots;
}
