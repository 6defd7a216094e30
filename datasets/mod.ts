/**
 * Datasets: COCO-format loading with checks, the ODinW task manifest and its prompts, the data
 * root, the synthetic demo set, GLIP's few-shot samplers (with CPython's `random.Random`, so a
 * seed picks the images GLIP picks), dataset cards, and downloads with archive extraction.
 *
 * @example GLIP's seeded few-shot sampler on a COCO-format dataset
 * ```ts
 * import { sampleFewShot } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const box: [number, number, number, number] = [0, 0, 10, 10];
 * const train = {
 *   path: "train.json",
 *   images: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }],
 *   annotations: [
 *     { image_id: 1, category_id: 1, bbox: box },
 *     { image_id: 2, category_id: 1, bbox: box },
 *     { image_id: 3, category_id: 2, bbox: box },
 *     { image_id: 4, category_id: 2, bbox: box },
 *   ],
 *   categories: [{ id: 1 }, { id: 2 }],
 * };
 * const ids = sampleFewShot(train, 1, { sampler: "seeded", seed: 3 });
 * assert.equal(ids.length, 2); // one image per category
 * ```
 *
 * @example The demo set: two small ODinW-shaped tasks written to a folder
 * ```ts
 * import { demoTasks, generateDemoSet, loadCocoJson, taskSplitPaths } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   const demo = await generateDemoSet(dir);
 *   assert.equal(demo.tasks.length, demoTasks().length);
 *   const { annotationFile } = taskSplitPaths(demo.tasks[0], "test", dir);
 *   const dataset = await loadCocoJson(annotationFile);
 *   assert.ok(dataset.images.length > 0);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @module
 */
export {
  checkImageFiles,
  type CocoAnnotation,
  type CocoCategory,
  type CocoDataset,
  type CocoImage,
  loadCocoJson,
  validateCoco,
} from "./coco_json.ts";
export {
  type CaptionPromptEntry,
  ODINW_SOURCE,
  type OdinwSet,
  type OdinwTask,
  odinwTask,
  odinwTasks,
  type PromptVariant,
  type SplitFiles,
  taskPrompt,
  taskSplitPaths,
} from "./odinw.ts";
export { type DataRoot, describeDataRoot, resolveDataRoot } from "./data_root.ts";
export { type DemoSet, demoTasks, generateDemoSet } from "./demo/generate.ts";
export type { DatasetCard, DatasetCheck, DatasetDefinition } from "./dataset.ts";
export {
  FEW_SHOT_SAMPLERS,
  fewShotFileName,
  type FewShotOptions,
  type FewShotSampler,
  type FewShotSource,
  hasValidAnnotation,
  K_SHOT_SOURCES,
  type KShotSource,
  loadPreparedFewShot,
  type PreparedFewShotCell,
  preparedFewShotCell,
  preparedFewShotPath,
  type PreparedFewShotPatterns,
  sampleFewShot,
  subsetCoco,
} from "./fewshot.ts";
export { PythonRandom, seedKey } from "./python_random.ts";
export {
  DownloadError,
  downloadFile,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  sha256File,
} from "./download.ts";
export { ArchiveError, archiveKind, extractArchive, type ExtractOptions } from "./extract.ts";
export {
  DATA_SOURCES,
  type DataSource,
  dataSource,
  ODINW_ARCHIVES,
  type RemoteFile,
} from "./sources.ts";
