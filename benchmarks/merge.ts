/**
 * `deno task bench merge`: combines the run folders of `--shard i/n` runs into one run whose
 * detections and results equal an unsharded run's.
 *
 * @module
 */
import { join } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { loadCocoJson } from "../datasets/coco_json.ts";
import { readDetectionLines } from "./detection_store.ts";
import { type PreparedTask, scoreTask, taskResult } from "./runner.ts";
import { readRunRecord, type RunRecord, writeRunRecord } from "./run_record.ts";
import type { DetectionTask } from "./suite.ts";
import { groundingEntries } from "./grounding.ts";

/** Merges shard run folders into `outDir`; returns the merged record. */
export async function mergeShards(dirs: string[], outDir: string): Promise<RunRecord> {
  const records = await Promise.all(dirs.map((dir) => readRunRecord(join(dir, "run.json"))));
  const first = records[0];
  const shards = records.map((r, i) => {
    const shard = r.settings.shard;
    if (!shard) {
      throw new UsageError(`bench merge: ${dirs[i]} is not a shard run (no --shard in its record)`);
    }
    return shard.split("/").map(Number);
  });
  const count = shards[0][1];
  const indices = shards.map(([index, n], i) => {
    if (n !== count) {
      throw new UsageError(
        `bench merge: ${dirs[i]} is shard ${index}/${n}, the others are of ${count}`,
      );
    }
    return index;
  }).sort((a, b) => a - b);
  if (indices.length !== count || indices.some((v, i) => v !== i + 1)) {
    throw new UsageError(
      `bench merge: shards ${
        indices.join(", ")
      } of ${count} given; all of 1..${count} are needed exactly once`,
    );
  }
  records.forEach((r, i) => {
    const same = r.suite === first.suite && r.model.bundleSha256 === first.model.bundleSha256 &&
      r.engine.engine === first.engine.engine &&
      JSON.stringify(r.tasks.map((t) => t.prompts.map((p) => p.hash))) ===
        JSON.stringify(first.tasks.map((t) => t.prompts.map((p) => p.hash)));
    if (!same) {
      throw new UsageError(
        `bench merge: ${dirs[i]} ran a different suite, model, engine or prompts than ${dirs[0]}`,
      );
    }
  });
  const specs = first.taskSpecs as (DetectionTask & { imageIds: number[] })[] | undefined;
  if (!specs) {
    throw new InputError("the run record has no task definitions (taskSpecs)", {
      file: join(dirs[0], "run.json"),
    });
  }
  await Deno.mkdir(join(outDir, "detections"), { recursive: true });
  const tasks = [];
  const mergedSpecs = [];
  for (const [t, spec] of specs.entries()) {
    const file = first.tasks[t].detectionsFile!;
    const lines = [];
    for (const dir of dirs) lines.push(...(await readDetectionLines(join(dir, file))).images);
    lines.sort((a, b) => a.image_id - b.image_id);
    const imageIds = records.flatMap((r) => (r.taskSpecs![t] as { imageIds: number[] }).imageIds)
      .sort((a, b) => a - b);
    const merged = join(outDir, file);
    await Deno.writeTextFile(merged, lines.map((line) => JSON.stringify(line) + "\n").join(""));
    const dataset = await loadCocoJson(spec.annotationFile, { removeBackground: true });
    const ids = new Set(imageIds);
    const prepared: PreparedTask = {
      task: spec,
      dataset,
      chunks: [],
      prompts: first.tasks[t].prompts,
      imageIds,
      detectionsFile: merged,
      // grounding tasks are scored per sentence entry; their prompts are not needed to score
      grounding: spec.metric === "flickr30k"
        ? {
          entries: new Map(
            groundingEntries(dataset).filter((e) => ids.has(e.entryId)).map((e) => [e.entryId, e]),
          ),
          prompts: new Map(),
        }
        : undefined,
    };
    tasks.push(taskResult(prepared, await scoreTask(prepared), outDir));
    mergedSpecs.push({ ...spec, imageIds });
  }
  const headlines = tasks.map((t) => t.result?.headline ?? -1).filter((v) => v > -1);
  const wall = records.reduce((sum, r) => sum + r.timings.wallSeconds, 0);
  const images = records.reduce(
    (sum, r) => sum + r.timings.imagesPerSecond * r.timings.wallSeconds,
    0,
  );
  const invocations: Record<string, number> = {};
  for (const r of records) {
    for (const [k, v] of Object.entries(r.invocations)) {
      invocations[k] = (invocations[k] ?? 0) + v;
    }
  }
  const { shard: _shard, ...settings } = first.settings;
  const record: RunRecord = {
    ...first,
    id: `${first.id}-merged`,
    createdAt: new Date().toISOString(),
    settings: {
      ...settings,
      deliberateDifferences: [...settings.deliberateDifferences, `Merged from ${count} shards.`],
    },
    tasks,
    summary: {
      ...first.summary,
      mean: headlines.length ? headlines.reduce((a, b) => a + b, 0) / headlines.length : -1,
    },
    timings: {
      ...first.timings,
      wallSeconds: wall,
      imagesPerSecond: images / Math.max(wall, 1e-9),
    },
    invocations,
    taskSpecs: mergedSpecs,
  };
  await writeRunRecord(join(outDir, "run.json"), record);
  return record;
}
