/**
 * The `odinw` suite: ODinW-13 (or `--set odinw35`) zero-shot detection as GLIP evaluates it:
 * each task's categories in one prompt joined by ". ", the `raw` (odinw_13) or `engineered`
 * (odinw_35) prompt, the README's zero-shot split (val, minival for some tasks) or `--split`,
 * 100 detections per image, COCO boxes with GLIP's +1, rescaled with the JSON image size.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../../core/errors.ts";
import { loadCocoJson } from "../../datasets/coco_json.ts";
import {
  type OdinwSet,
  type OdinwTask,
  odinwTask,
  odinwTasks,
  type PromptVariant,
  taskPrompt,
  taskSplitPaths,
} from "../../datasets/odinw.ts";
import type { DetectionSuite, DetectionTask, SuiteOptions } from "../suite.ts";

/** Builds the detection task of one ODinW (or demo) task. */
export async function odinwDetectionTask(
  task: OdinwTask,
  options: { root: string; split?: string; prompt: PromptVariant; dataset?: string },
): Promise<DetectionTask> {
  const split = options.split === "zero-shot" || !options.split
    ? task.zeroShotSplit
    : options.split;
  const { annotationFile, imageRoot } = taskSplitPaths(task, split, options.root);
  const prompt = taskPrompt(task, options.prompt);
  // GLIP's contiguous labels follow the annotation file's category ids, sorted.
  const dataset = await loadCocoJson(annotationFile, { removeBackground: true });
  const categoryIds = dataset.categories.map((c) => c.id);
  if (categoryIds.length !== prompt.names.length) {
    throw new UsageError(
      `ODinW task ${task.name}: ${annotationFile} has ${categoryIds.length} categories, the manifest lists ${prompt.names.length}`,
    );
  }
  const train = task.splits.train ? join(options.root, task.splits.train.annFile) : undefined;
  const val = task.splits[task.zeroShotSplit]
    ? join(options.root, task.splits[task.zeroShotSplit].annFile)
    : undefined;
  return {
    name: task.name,
    dataset: options.dataset ?? "odinw",
    split,
    annotationFile,
    imageRoot,
    metric: "coco",
    names: prompt.names,
    categoryIds,
    captionPrompt: prompt.captionPrompt,
    separator: ". ",
    detectionsPerImage: 100,
    boxConvention: "coco",
    originalSizeFrom: "json",
    trainAnnotationFile: train,
    valAnnotationFile: val,
    trainImageRoot: task.splits.train ? join(options.root, task.splits.train.imgDir) : undefined,
    valImageRoot: task.splits[task.zeroShotSplit]
      ? join(options.root, task.splits[task.zeroShotSplit].imgDir)
      : undefined,
    fewShotFiles: task.fewShotFiles.train && task.fewShotFiles[task.zeroShotSplit]
      ? {
        train: join(options.root, task.fewShotFiles.train),
        val: join(options.root, task.fewShotFiles[task.zeroShotSplit]),
      }
      : undefined,
    card: {
      name: task.name,
      summary: `ODinW ${
        task.odinw13 ? "13/35" : "35"
      } task ${task.name} (GLIP config ${task.config}), split ${split}`,
      splits: Object.keys(task.splits),
      quirks: [
        ...(task.name === "PascalVOC"
          ? ["PascalVOC's test split is its valid split (GLIP's config)"]
          : []),
        ...(task.zeroShotSplit === "minival"
          ? ["zero-shot evaluation uses minival, as GLIP's README"]
          : []),
      ],
    },
  };
}

/** Whether ODinW data is present under a root (the demo runs when it is not). */
export async function odinwPresent(root: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(root, "odinw"))).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Fails when a task's annotation file is not under the data root (a partial download), naming
 * the missing tasks, the ones present (to run with `--tasks`) and how to get the rest.
 */
async function refuseMissingTasks(selected: OdinwTask[], options: SuiteOptions): Promise<void> {
  const missing: string[] = [];
  const present: string[] = [];
  for (const task of selected) {
    const split = options.split === "zero-shot" || !options.split
      ? task.zeroShotSplit
      : options.split;
    if (!task.splits[split]) continue; // taskSplitPaths says which splits it has
    const { annotationFile } = taskSplitPaths(task, split, options.dataRoot);
    const found = await Deno.stat(annotationFile).then((s) => s.isFile, () => false);
    (found ? present : missing).push(task.name);
  }
  if (missing.length === 0) return;
  throw new UsageError(
    `bench: the ODinW data under ${options.dataRoot} lacks ${missing.length} task(s): ${
      missing.join(", ")
    }. ${
      present.length > 0
        ? `Run the tasks you have with --tasks ${present.join(",")}, or get`
        : "Get"
    } the others with 'deno task data odinw --tasks ${missing.join(",")}'.`,
  );
}

/** The `odinw` suite. */
export const odinwSuite: DetectionSuite = {
  kind: "detection",
  name: "odinw",
  summary: "ODinW-13 (or ODinW-35) zero-shot / few-shot detection, GLIP's prompts and splits",
  defaults: {
    split: "zero-shot (val; minival where GLIP's README says)",
    prompt: "raw",
    set: "odinw13",
  },
  present: odinwPresent,
  async tasks(options: SuiteOptions): Promise<DetectionTask[]> {
    const set = (options.set ?? "odinw13") as OdinwSet;
    if (set !== "odinw13" && set !== "odinw35") {
      throw new UsageError(`--set must be odinw13 or odinw35 (got '${set}')`);
    }
    const prompt = (options.prompt ?? "raw") as PromptVariant;
    if (prompt !== "raw" && prompt !== "engineered") {
      throw new UsageError(`--prompt must be raw or engineered (got '${prompt}')`);
    }
    const selected = options.tasks
      ? options.tasks.map((name) => odinwTask(name, set))
      : odinwTasks(set);
    await refuseMissingTasks(selected, options);
    const tasks = [];
    for (const task of selected) {
      tasks.push(
        await odinwDetectionTask(task, { root: options.dataRoot, split: options.split, prompt }),
      );
    }
    return tasks;
  },
};
