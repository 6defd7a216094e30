/**
 * `deno task bench merge`: combines the run folders of `--shard i/n` runs into one run folder
 * holding every file an unsharded run writes, each equal to the unsharded run's: the detections
 * (`detections/<task>.jsonl`), each task's evaluator file (`detections/<task>.bbox.json`, or
 * `.flickr.json` for grounding), the ODinW leaderboard file, `fingerprint.json` (the unsharded
 * run's, so `--resume` and `--reproduce` treat the folder as that run) and `run.json`.
 *
 * What differs from an unsharded run's record, and why: `id` and `createdAt` (when the merge
 * ran); `timings` (summed over the shards: each loaded its own engine); `invocations` (each
 * shard encodes every prompt once, so `text` counts once per shard); `provenance.command` (the
 * first shard's command line) and `settings.deliberateDifferences` (which says the run was merged);
 * `engineParity` holds every shard's parity checks (`bench --check-parity`), each naming its
 * shard: each shard ran its own engine, so each check stands, and a failed one fails the merge's.
 * The HTML report (built by the CLI) shows these fields too.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { loadCocoJson } from "../datasets/coco_json.ts";
import { readDetectionLines } from "./detection_store.ts";
import { type PreparedTask, scoreTask, taskResult } from "./runner.ts";
import { readRunRecord, type RunRecord, writeRunRecord } from "./run_record.ts";
import type { DetectionTask } from "./suite.ts";
import { acquireRunLock } from "./run_lock.ts";
import {
  FINGERPRINT_FILE,
  fingerprintDifferences,
  type RunFingerprint,
} from "./run_fingerprint.ts";
import { groundingEntries } from "./grounding.ts";
import { writeEvaluatorFiles, writeLeaderboard, zeroShotSubmission } from "./bench_record.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";
import { readSegments, type SegmentRecord, sumSegments, writeSegments } from "./run_segments.ts";

/** Options of {@link mergeShards}. */
export interface MergeOptions {
  /** Warnings (a stale lock taken over). @default `console.error` */
  warn?: (line: string) => void;
  /** Progress lines (the files written). @default none */
  log?: (line: string) => void;
}

/**
 * Merges shard run folders into `outDir` (holding its run lock while it writes); returns the
 * merged record.
 *
 * @example Two shards of one run (`--shard 1/2` and `--shard 2/2`), merged
 * ```ts ignore
 * import { mergeShards } from "./merge.ts";
 * const record = await mergeShards(["runs/shard-1", "runs/shard-2"], "runs/merged");
 * console.log(record.summary.mean);
 * ```
 */
export async function mergeShards(
  dirs: string[],
  outDir: string,
  options: MergeOptions = {},
): Promise<RunRecord> {
  const inputs = dirs.map((dir) => resolve(dir));
  if (inputs.includes(resolve(outDir))) {
    throw new UsageError(
      `bench merge: --out ${outDir} is one of the shard folders; merge into a folder of its own`,
    );
  }
  await Deno.mkdir(outDir, { recursive: true });
  const lock = await acquireRunLock(outDir, {
    warn: options.warn ?? ((line) => console.error(`warning: ${line}`)),
  });
  try {
    return await mergeLocked(dirs, outDir, options.log ?? (() => {}));
  } finally {
    await lock.release();
  }
}

async function mergeLocked(
  dirs: string[],
  outDir: string,
  log: (line: string) => void,
): Promise<RunRecord> {
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
  const preparedTasks: PreparedTask[] = [];
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
    // the records keep no card in taskSpecs; the shards' task results hold it
    tasks.push({
      ...taskResult(prepared, await scoreTask(prepared), outDir),
      card: first.tasks[t].card,
    });
    mergedSpecs.push({ ...spec, imageIds });
    preparedTasks.push(prepared);
  }
  const headlines = tasks.map((t) => t.result?.headline ?? -1).filter((v) => v > -1);
  // every shard's segments, in shard order: the merged run's timings.json and timings
  const shardSegments = await Promise.all(dirs.map((dir) => readSegments(dir)));
  const segments = shardSegments.every((s) => s !== undefined)
    ? (shardSegments as SegmentRecord[][]).flat()
    : undefined;
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
  const { fingerprint: _fingerprint, engineParity: _parity, ...firstRest } = first;
  // every shard's parity checks, each saying which shard made it
  const engineParity = records.flatMap((r) =>
    (r.engineParity ?? []).map((check) => ({ ...check, shard: check.shard ?? r.settings.shard }))
  );
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
    ...(segments ? segmentTimings(segments) : {
      timings: {
        ...first.timings,
        wallSeconds: wall,
        imagesPerSecond: images / Math.max(wall, 1e-9),
        segments: records.reduce((sum, r) => sum + (r.timings.segments ?? 1), 0),
      },
      invocations,
    }),
    taskSpecs: mergedSpecs,
    ...(fingerprint ? { fingerprint } : {}),
    ...(engineParity.length ? { engineParity } : {}),
  };
  await writeRunRecord(join(outDir, "run.json"), record);
  if (segments) await writeSegments(outDir, segments);
  if (fingerprint) {
    await writeFileAtomic(
      join(outDir, FINGERPRINT_FILE),
      JSON.stringify(fingerprint, null, 2) + "\n",
    );
  }
  await writeEvaluatorFiles(preparedTasks);
  if (first.suite === "odinw") {
    await writeLeaderboard(
      outDir,
      specs,
      await zeroShotSubmission(preparedTasks),
      log,
    );
  }
  log(`run record: ${join(outDir, "run.json")}`);
  return record;
}

/** A run record's timings and invocations from every segment of every shard. */
function segmentTimings(segments: SegmentRecord[]): Pick<RunRecord, "timings" | "invocations"> {
  const summed = sumSegments(segments);
  return {
    timings: {
      wallSeconds: summed.wallSeconds,
      imagesPerSecond: summed.images / Math.max(summed.wallSeconds, 1e-9),
      peakRssBytes: summed.peakRssBytes,
      stages: summed.stages,
      segments: summed.segments,
    },
    invocations: summed.invocations,
  };
}
