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
import { acquireRunLock } from "./run_lock.ts";
import { fingerprintDifferences, type RunFingerprint } from "./run_fingerprint.ts";
import { groundingEntries } from "./grounding.ts";

/**
 * Merges shard run folders into `outDir` (holding its run lock while it writes); returns the
 * merged record.
 */
export async function mergeShards(
  dirs: string[],
  outDir: string,
  options: { warn?: (line: string) => void } = {},
): Promise<RunRecord> {
  await Deno.mkdir(outDir, { recursive: true });
  const lock = await acquireRunLock(outDir, {
    warn: options.warn ?? ((line) => console.error(`warning: ${line}`)),
  });
  try {
    return await mergeLocked(dirs, outDir);
  } finally {
    await lock.release();
  }
}

async function mergeLocked(dirs: string[], outDir: string): Promise<RunRecord> {
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
  const unsharded = (f: RunFingerprint | undefined) =>
    f && { ...f, shard: null, request: { ...f.request, shard: undefined } };
  records.forEach((r, i) => {
    const differences = first.fingerprint && r.fingerprint
      ? fingerprintDifferences(unsharded(first.fingerprint)!, unsharded(r.fingerprint)!)
      : [];
    if (differences.length > 0) {
      throw new UsageError(
        `bench merge: ${dirs[i]} is a shard of another run than ${dirs[0]}: ${
          differences.slice(0, 5).join("; ")
        }`,
      );
    }
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
    for (const [d, dir] of dirs.entries()) {
      const shardIds = (records[d].taskSpecs?.[t] as { imageIds?: number[] } | undefined)
        ?.imageIds;
      // detection tasks: each line must be an image of that shard with one of the task's labels
      const expect = shardIds && spec.metric !== "flickr30k"
        ? { imageIds: new Set(shardIds), labelsOf: () => new Set(spec.categoryIds) }
        : undefined;
      lines.push(...(await readDetectionLines(join(dir, file), expect)).images);
    }
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
  const { fingerprint: _fingerprint, ...firstRest } = first;
  // the merged run is the unsharded run: its fingerprint says so, and --reproduce reruns that
  const fingerprint = records.every((r) => r.fingerprint)
    ? unsharded(first.fingerprint)
    : undefined;
  const record: RunRecord = {
    ...firstRest,
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
      segments: records.reduce((sum, r) => sum + (r.timings.segments ?? 1), 0),
    },
    invocations,
    taskSpecs: mergedSpecs,
    ...(fingerprint ? { fingerprint } : {}),
  };
  await writeRunRecord(join(outDir, "run.json"), record);
  return record;
}
