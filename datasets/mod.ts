/**
 * Datasets: COCO-format loading, the ODinW manifest, the demo set, the data root.
 * @module
 */
export * from "./coco_json.ts";
export * from "./odinw.ts";
export * from "./data_root.ts";
export { demoTasks, generateDemoSet } from "./demo/generate.ts";
export type { DatasetCard, DatasetCheck, DatasetDefinition } from "./dataset.ts";
