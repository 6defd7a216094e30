/**
 * Published GLIP numbers, as data, each with its source (GLIP-FACTS.md §8). Reports show the Δ
 * of a run against them when the model, suite, prompt and protocol match.
 *
 * @module
 */

/** A published number and where it comes from. */
export interface ReferenceNumber {
  value: number;
  source: string;
}

const PAPER = "GLIP paper (arXiv 2112.03857), ODinW appendix table, via transcription";
const README = "microsoft/GLIP README, Model Zoo";

/** ODinW-13 task names of the paper's tables, mapped to the suite's task names. */
const ODINW_COLUMNS = [
  "PascalVOC",
  "AerialMaritimeDrone",
  "Aquarium",
  "CottontailRabbits",
  "EgoHands",
  "NorthAmericaMushrooms",
  "Packages",
  "Raccoon",
  "ShellfishOpenImages",
  "VehiclesOpenImages",
  "pistols",
  "pothole",
  "thermalDogsAndPeople",
];

/** Zero-shot ODinW-13 AP (percent) per task and average, per model. GLIP-T's row used the engineered prompts. */
const ODINW13_ZERO_SHOT: Record<
  string,
  { tasks: number[]; average: number; prompt: "raw" | "engineered" }
> = {
  "glip-t-a": {
    tasks: [47.7, 9.8, 16.8, 60.5, 1.6, 13.7, 48.5, 44.4, 20.4, 52.4, 25.3, 0.8, 32.3],
    average: 28.8,
    prompt: "raw",
  },
  "glip-t-b": {
    tasks: [50.6, 4.9, 19.4, 71.6, 0.5, 21.8, 29.7, 47.0, 21.4, 56.0, 47.4, 3.6, 57.1],
    average: 33.2,
    prompt: "raw",
  },
  "glip-t-c": {
    tasks: [51.6, 8.1, 22.6, 71.1, 49.1, 69.4, 65.6, 51.5, 29.3, 49.9, 42.7, 17.0, 49.2],
    average: 44.4,
    prompt: "raw",
  },
  "glip-t": {
    tasks: [56.2, 12.5, 18.4, 70.2, 50.0, 73.8, 72.3, 57.8, 26.3, 56.0, 49.6, 17.7, 44.1],
    average: 46.5,
    prompt: "engineered",
  },
  "glip-l": {
    tasks: [61.7, 7.1, 26.9, 75.0, 45.5, 49.0, 62.8, 63.3, 68.9, 57.3, 68.6, 25.7, 66.0],
    average: 52.1,
    prompt: "raw",
  },
};

/** ODinW-13 few-shot averages (mean over 3 seeds, percent) by shots, full-model tuning. */
const ODINW13_FEW_SHOT: Record<string, Record<string, number>> = {
  "glip-t-a": { "0": 28.7, "1": 43.5, "3": 48.8, "5": 50.4, "10": 54.1, all: 63.6 },
  "glip-t-b": { "0": 33.2, "1": 48.0, "3": 52.0, "5": 53.2, "10": 54.9, all: 62.7 },
  "glip-t-c": { "0": 44.4, "1": 49.6, "3": 53.8, "5": 54.8, "10": 57.2, all: 63.9 },
  "glip-t": { "0": 46.5, "1": 51.1, "3": 54.9, "5": 56.4, "10": 58.4, all: 64.9 },
  "glip-l": { "0": 52.1, "1": 59.9, "3": 62.1, "5": 64.2, "10": 64.9, all: 68.9 },
};

/** COCO val2017 zero-shot AP (percent), released checkpoints. */
const COCO_ZERO_SHOT: Record<string, number> = {
  "glip-t-a": 42.9,
  "glip-t-b": 44.9,
  "glip-t-c": 46.7,
  "glip-t": 46.6,
  "glip-l": 51.4,
};

/**
 * Flickr30K Entities val Recall@1 (percent, ANY-BOX): the paper's ablation rows for the
 * configurations the released T(A), T(B), T(C) checkpoints follow, and the released GLIP-T
 * (CC3M, SBU). GLIP-L and the test split are left out: the fact sheet marks them UNCONFIRMED.
 */
const FLICKR_VAL_R1: Record<string, number> = {
  "glip-t-a": 46.4,
  "glip-t-b": 41.4,
  "glip-t-c": 84.8,
  "glip-t": 85.3,
};
const FLICKR_SOURCE = "GLIP paper (arXiv 2112.03857), Flickr30K table, via transcription";

/**
 * The published zero-shot number (0..1) of a task for a model config, when one exists: AP, or
 * for Flickr30K val Recall@1.
 * `task` "Average" gives the suite average.
 */
export function referenceZeroShot(
  config: string,
  suite: string,
  task: string,
): ReferenceNumber | undefined {
  if (suite === "odinw") {
    const row = ODINW13_ZERO_SHOT[config];
    if (!row) return undefined;
    const source = `${PAPER}${
      row.prompt === "engineered" ? " (this row used the odinw_35 engineered prompts)" : ""
    }`;
    if (task === "Average") return { value: row.average / 100, source };
    const index = ODINW_COLUMNS.indexOf(task);
    return index < 0 ? undefined : { value: row.tasks[index] / 100, source };
  }
  if (suite === "flickr30k" && task === "val" && FLICKR_VAL_R1[config] !== undefined) {
    return { value: FLICKR_VAL_R1[config] / 100, source: FLICKR_SOURCE };
  }
  if (suite === "coco" && COCO_ZERO_SHOT[config] !== undefined) {
    return { value: COCO_ZERO_SHOT[config] / 100, source: README };
  }
  return undefined;
}

/** Published ODinW-13 data-efficiency averages (0..1) by shots for a model config. */
export function referenceFewShot(config: string): Record<string, ReferenceNumber> | undefined {
  const row = ODINW13_FEW_SHOT[config];
  if (!row) return undefined;
  return Object.fromEntries(
    Object.entries(row).map(([shots, value]) => [shots, { value: value / 100, source: PAPER }]),
  );
}

/** Citations for the datasets and models a report mentions. */
export const CITATIONS: Record<string, string> = {
  glip:
    "Li, Zhang, et al. Grounded Language-Image Pre-training. CVPR 2022. arXiv:2112.03857. Code: github.com/microsoft/GLIP.",
  odinw:
    "Li, Liu, et al. ELEVATER: A Benchmark and Toolkit for Evaluating Language-Augmented Visual Models. NeurIPS 2022 (ODinW).",
  coco: "Lin et al. Microsoft COCO: Common Objects in Context. ECCV 2014.",
  lvis:
    "Gupta, Dollár, Girshick. LVIS: A Dataset for Large Vocabulary Instance Segmentation. CVPR 2019.",
  flickr30k: "Plummer et al. Flickr30k Entities. ICCV 2015.",
  demo: "Synthetic demo data generated by glip-bench (not a benchmark).",
};
