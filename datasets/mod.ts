/**
 * Datasets: COCO-format loading, the ODinW manifest, the demo set, the data root, GLIP's
 * few-shot samplers (with CPython's `random.Random`), downloads and archive extraction.
 * @module
 */
export * from "./coco_json.ts";
export * from "./odinw.ts";
export * from "./data_root.ts";
export { demoTasks, generateDemoSet } from "./demo/generate.ts";
export type { DatasetCard, DatasetCheck, DatasetDefinition } from "./dataset.ts";
export * from "./fewshot.ts";
export { PythonRandom, seedKey } from "./python_random.ts";
export { DownloadError, downloadFile, sha256File } from "./download.ts";
export type { DownloadOptions, DownloadProgress, DownloadResult } from "./download.ts";
export { ArchiveError, archiveKind, extractArchive } from "./extract.ts";
export { DATA_SOURCES, dataSource, ODINW_ARCHIVES } from "./sources.ts";
export type { DataSource, RemoteFile } from "./sources.ts";
