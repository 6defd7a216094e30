/**
 * The ODinW manifest (`manifests/odinw.json`, facts from GLIP's odinw_13 and odinw_35 configs):
 * all 35 tasks, 13 flagged as ODinW-13, each with its split files, the zero-shot split GLIP's
 * README uses (val, or minival for EgoHands, Vehicles and others), the `raw` category names
 * (odinw_13) and the `engineered` prompts (odinw_35 overrides and caption prompts).
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import { unknownNameMessage } from "../core/did_you_mean.ts";
import manifest from "./manifests/odinw.json" with { type: "json" };

/** One split's files, relative to the data root. */
export interface SplitFiles {
  /** Annotation file, relative to the data root. */
  annFile: string;
  /** Image folder, relative to the data root. */
  imgDir: string;
}

/**
 * A caption-prompt entry (GLIP `DATASETS.CAPTION_PROMPT`): text around a category name, matched
 * to a label by its position in the list.
 */
export interface CaptionPromptEntry {
  /** Text before the name. */
  prefix: string;
  /** The name, used as written (not cleaned). */
  name: string;
  /** Text after the name. */
  suffix: string;
}

/** One ODinW task. */
export interface OdinwTask {
  /** Task name as GLIP's configs spell it (`Aquarium`, `EgoHands`). */
  name: string;
  /** The GLIP config file stem. */
  config: string;
  /** Whether the task is one of ODinW-13. */
  odinw13: boolean;
  /** The split GLIP's README evaluates zero-shot on (`val` or `minival`). */
  zeroShotSplit: string;
  /** Files of each split (`train`, `val`, `test`, `minival`, ...). */
  splits: Record<string, SplitFiles>;
  /** Few-shot file name patterns with `{shots}` and `{seed}`, per split. */
  fewShotFiles: Record<string, string>;
  /** Categories (contiguous ids 1..K) with the odinw_13 names. */
  categories: { id: number; name: string }[];
  /** The odinw_35 prompt: names (overrides) and, for some tasks, caption prompts. */
  engineered: { names: string[]; captionPrompt?: CaptionPromptEntry[] };
}

/** Which prompt variant. */
export type PromptVariant = "raw" | "engineered";

/** Which task set. */
export type OdinwSet = "odinw13" | "odinw35";

const TASKS: readonly OdinwTask[] = (manifest as { tasks: OdinwTask[] }).tasks;

/** Where the manifest facts come from. */
export const ODINW_SOURCE: string = (manifest as { source: string }).source;

/**
 * The tasks of a set, in manifest order.
 *
 * @example
 * ```ts
 * import { odinwTasks } from "./odinw.ts";
 * console.assert(odinwTasks("odinw13").length === 13 && odinwTasks("odinw35").length === 35);
 * ```
 */
export function odinwTasks(set: OdinwSet = "odinw13"): OdinwTask[] {
  return TASKS.filter((task) => set === "odinw35" || task.odinw13);
}

/** One task by name; unknown names are usage errors with a suggestion. */
export function odinwTask(name: string, set: OdinwSet = "odinw35"): OdinwTask {
  const tasks = odinwTasks(set);
  const task = tasks.find((t) => t.name === name) ??
    tasks.find((t) => t.name.toLowerCase() === name.toLowerCase());
  if (!task) throw new UsageError(unknownNameMessage("ODinW task", name, tasks.map((t) => t.name)));
  return task;
}

/** The names and caption prompt of a task for a prompt variant. */
export function taskPrompt(
  task: OdinwTask,
  variant: PromptVariant,
): { names: string[]; captionPrompt?: CaptionPromptEntry[] } {
  if (variant === "raw") return { names: task.categories.map((c) => c.name) };
  return { names: task.engineered.names, captionPrompt: task.engineered.captionPrompt };
}

/** Absolute paths of a task's split under a data root; a missing split is a usage error. */
export function taskSplitPaths(
  task: OdinwTask,
  split: string,
  root: string,
): { annotationFile: string; imageRoot: string } {
  const files = task.splits[split];
  if (!files) {
    throw new UsageError(
      `ODinW task ${task.name} has no '${split}' split (it has ${
        Object.keys(task.splits).join(", ")
      })`,
    );
  }
  return { annotationFile: join(root, files.annFile), imageRoot: join(root, files.imgDir) };
}
