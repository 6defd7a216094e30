/**
 * Contracts of benchmark suites and protocols, the units `deno task bench` runs. Plugins
 * register their own through `core/plugin_api.ts`.
 *
 * A suite either describes its tasks as data ({@link DetectionSuite}: the standard runner then
 * does prompts, engines, caching, resume, sharding, metrics and the run record) or runs itself
 * ({@link CustomSuite}).
 *
 * @module
 */
import type { DatasetCard } from "../datasets/dataset.ts";

import type { CaptionPromptEntry } from "../datasets/odinw.ts";

export type { CaptionPromptEntry };

/** Phrase grounding (Flickr30K Entities): one caption prompt per (image, sentence) entry. */
export interface GroundingSettings {
  /** The evaluator's ground truth: the flickr30k_entities folder (`<subset>.txt`, `Annotations/`, `Sentences/`). */
  entitiesRoot: string;
  /** Which subset of Flickr30K Entities. */
  subset: "val" | "test";
  /** MERGED-BOXES instead of GLIP's ANY-BOX. @default false */
  merged?: boolean;
}

/**
 * One task: a COCO-format split evaluated with COCO or LVIS metrics, or (metric `flickr30k`)
 * MDETR's grounding annotations whose entries carry their own caption and phrase spans.
 */
export interface DetectionTask {
  /** Task name as the suite knows it (`Aquarium`, `val2017`, `minival`). */
  name: string;
  /** Dataset name in the datasets registry (`odinw`, `coco`, `lvis`, `demo`). */
  dataset: string;
  /** The split evaluated (`val`, `test`, `minival`). */
  split: string;
  /** COCO-format annotation file (absolute path). */
  annotationFile: string;
  /** Folder that image `file_name`s are relative to. */
  imageRoot: string;
  /** Which evaluator scores the task. */
  metric: "coco" | "lvis" | "flickr30k";
  /** Grounding settings (metric `flickr30k`). */
  grounding?: GroundingSettings;
  /**
   * Names in label order: label i+1 is `names[i]` for contiguous labels (COCO, ODinW), or
   * `labels[i]` when given (LVIS uses raw category ids as labels).
   */
  names: string[];
  /** Label of each name; default 1..K. */
  labels?: number[];
  /** Category id reported for each label (COCO/ODinW: json id of the contiguous label). */
  categoryIds: number[];
  /** Caption prompts by label position (GLIP matches them by position, not by name). */
  captionPrompt?: CaptionPromptEntry[];
  /** Separator between names (GLIP: ". "). */
  separator: string;
  /** Names per prompt chunk (LVIS: 40); whole list in one prompt when absent. */
  chunkSize?: number;
  /** Detections kept per image per chunk (GLIP: 100; LVIS: 300). */
  detectionsPerImage: number;
  /** Box output convention: COCO xywh with +1, LVIS xywh without, Flickr xyxy. */
  boxConvention: "coco" | "lvis" | "flickr";
  /** LVIS: keep the top-k detections per category over the dataset (FixedAP). */
  fixedApTopK?: number;
  /** Original image size from the JSON (COCO rescale) or the loaded image (LVIS, Flickr). */
  originalSizeFrom: "json" | "image";
  /** Card shown in reports. */
  card?: DatasetCard;
  /** Training split for adaptation protocols, when the task has one. */
  trainAnnotationFile?: string;
  /** Validation split for model selection in adaptation protocols. */
  valAnnotationFile?: string;
  /** Image folders of those splits (default: the annotation file's folder, ODinW's layout). */
  trainImageRoot?: string;
  /** Image folder of the validation split. */
  valImageRoot?: string;
  /**
   * GLIP's prepared k-shot files (`--fewshot-source prepared`), absolute path patterns with
   * `{shots}` and `{seed}`; images live in the train and val image folders.
   */
  fewShotFiles?: { train: string; val: string };
}

/** Options the bench command passes to a suite when resolving its tasks. */
export interface SuiteOptions {
  /** Data root (already resolved). */
  dataRoot: string;
  /** `--tasks a,b`. */
  tasks?: string[];
  /** `--set odinw13|odinw35`. */
  set?: string;
  /** `--prompt raw|engineered`. */
  prompt?: string;
  /** `--split`. */
  split?: string;
}

/** A suite described as data: the standard runner runs its tasks. */
export interface DetectionSuite {
  /** Marks a suite the standard runner runs. */
  kind: "detection";
  /** The name it is registered under. */
  name: string;
  /** One line shown by `deno task list`. */
  summary: string;
  /** The settings this suite uses when the flags do not say (for run records and help). */
  defaults: { split: string; prompt?: string; set?: string };
  /** Resolves the tasks; throws UsageError for unknown tasks or missing splits. */
  tasks(options: SuiteOptions): Promise<DetectionTask[]>;
  /** Whether the data is present under the root (the demo runs when it is not). */
  present(dataRoot: string): Promise<boolean>;
}

/** Context handed to a custom suite. */
export interface SuiteRunContext {
  /** Remaining command-line arguments after the suite name. */
  args: string[];
  /** Print results as JSON. */
  json: boolean;
}

/** A suite that runs itself (plugins that do not fit the detection runner). */
export interface CustomSuite {
  /** Marks a suite that runs itself (may be left out). */
  kind?: "custom";
  /** The name it is registered under. */
  name: string;
  /** One line shown by `deno task list`. */
  summary: string;
  /** Runs the suite; returns the process exit code. */
  run(context: SuiteRunContext): Promise<number>;
}

/** Anything the suite registry holds. */
export type SuiteDefinition = DetectionSuite | CustomSuite;

/** An evaluation protocol: `zero-shot`, `few-shot`, `prompt-tuning`. */
export interface ProtocolDefinition {
  /** The name it is registered under (`--protocol NAME`). */
  name: string;
  /** One line shown by `deno task list`. */
  summary: string;
  /** Whether the protocol adapts the model before evaluation. */
  adapts: boolean;
}
