/**
 * `--shard i/n`: a deterministic slice of a task's images, for job arrays; `--shard auto` reads
 * i and n from the scheduler (a Slurm job array or a Kubernetes Indexed Job).
 * @module
 */
import { UsageError } from "../core/errors.ts";

/** Shard `index` (1-based) of `count`. */
export interface Shard {
  /** 1-based index of this shard. */
  index: number;
  /** Number of shards. */
  count: number;
}

/**
 * Parses `i/n` with 1 <= i <= n.
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard.ts";
 * console.assert(parseShard("2/3").index === 2);
 * ```
 */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || count < 1 || index < 1 || index > count) {
    throw new UsageError(
      `--shard must be i/n with 1 <= i <= n, e.g. 2/4, or auto (got '${text}')`,
    );
  }
  return { index, count };
}

/**
 * The environment variable a Kubernetes Indexed Job must set to its `spec.completions`:
 * Kubernetes gives each pod its `JOB_COMPLETION_INDEX` but not the number of completions.
 */
export const KUBERNETES_COUNT_VARIABLE = "JOB_COMPLETIONS";

/** A shard taken from the scheduler, with where it came from (for the log). */
export interface ScheduledShard extends Shard {
  /** e.g. `Slurm job array (SLURM_ARRAY_TASK_ID=3, SLURM_ARRAY_TASK_MIN=1, ...)`. */
  source: string;
}

function integerVariable(env: Record<string, string | undefined>, name: string) {
  const raw = env[name];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim())) {
    throw new UsageError(`--shard auto: ${name} must be a whole number >= 0 (got '${raw}')`);
  }
  return Number(raw.trim());
}

/**
 * Slurm job arrays: `SLURM_ARRAY_TASK_ID` with the array's `SLURM_ARRAY_TASK_MIN` (Slurm sets
 * it for every array task) and its size, from `SLURM_ARRAY_TASK_COUNT` or
 * `SLURM_ARRAY_TASK_MAX` (with `SLURM_ARRAY_TASK_STEP` when the array has a step). Shard i is
 * the i-th task of the array, so `--array=0-3` and `--array=1-4` both give shards 1..4.
 */
function slurmShard(env: Record<string, string | undefined>): ScheduledShard {
  const id = integerVariable(env, "SLURM_ARRAY_TASK_ID")!;
  const min = integerVariable(env, "SLURM_ARRAY_TASK_MIN");
  const max = integerVariable(env, "SLURM_ARRAY_TASK_MAX");
  const count = integerVariable(env, "SLURM_ARRAY_TASK_COUNT");
  const step = integerVariable(env, "SLURM_ARRAY_TASK_STEP") ?? 1;
  const seen = ["ID", "MIN", "MAX", "COUNT", "STEP"]
    .filter((k) => env[`SLURM_ARRAY_TASK_${k}`] !== undefined)
    .map((k) => `SLURM_ARRAY_TASK_${k}=${env[`SLURM_ARRAY_TASK_${k}`]}`).join(", ");
  const source = `Slurm job array (${seen})`;
  if (min === undefined) {
    throw new UsageError(
      `--shard auto: ${source} lacks SLURM_ARRAY_TASK_MIN, so the task's place in the array is unknown (Slurm sets it for array jobs; set it yourself, or give --shard i/n)`,
    );
  }
  if (step < 1) {
    throw new UsageError(`--shard auto: SLURM_ARRAY_TASK_STEP must be >= 1 (${source})`);
  }
  const span = max === undefined ? undefined : Math.floor((max - min) / step) + 1;
  const size = count ?? span;
  if (size === undefined) {
    throw new UsageError(
      `--shard auto: ${source} gives neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX, so the number of shards is unknown`,
    );
  }
  if (span !== undefined && count !== undefined && span !== count) {
    throw new UsageError(
      `--shard auto: ${source} is not an evenly spaced array (MIN..MAX by STEP holds ${span} tasks, COUNT says ${count}); shards need --array=A-B or A-B:S, or give --shard i/n`,
    );
  }
  if (id < min || (id - min) % step !== 0 || (id - min) / step >= size) {
    throw new UsageError(
      `--shard auto: SLURM_ARRAY_TASK_ID is not a task of the array (${source})`,
    );
  }
  return { index: (id - min) / step + 1, count: size, source };
}

/** A Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` (0-based) of `JOB_COMPLETIONS`. */
function kubernetesShard(env: Record<string, string | undefined>): ScheduledShard {
  const index = integerVariable(env, "JOB_COMPLETION_INDEX")!;
  const count = integerVariable(env, KUBERNETES_COUNT_VARIABLE);
  const source =
    `Kubernetes Indexed Job (JOB_COMPLETION_INDEX=${index}, ${KUBERNETES_COUNT_VARIABLE}=${
      count ?? "unset"
    })`;
  if (count === undefined || count < 1) {
    throw new UsageError(
      `--shard auto: ${source}: set ${KUBERNETES_COUNT_VARIABLE} in the pod's env to the Job's spec.completions (Kubernetes gives each pod its index, not the count)`,
    );
  }
  if (index >= count) {
    throw new UsageError(
      `--shard auto: JOB_COMPLETION_INDEX must be < ${KUBERNETES_COUNT_VARIABLE} (${source})`,
    );
  }
  return { index: index + 1, count, source };
}

/**
 * `--shard auto`: the shard of this job-array task, from a Slurm job array
 * (`SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_COUNT` or
 * `SLURM_ARRAY_TASK_MAX`) or a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX` with
 * {@link KUBERNETES_COUNT_VARIABLE}). Neither, or both, is a {@link UsageError}.
 *
 * @example
 * ```ts
 * import { shardFromEnvironment } from "./shard.ts";
 * const shard = shardFromEnvironment({ JOB_COMPLETION_INDEX: "0", JOB_COMPLETIONS: "4" });
 * console.assert(shard.index === 1 && shard.count === 4);
 * ```
 */
export function shardFromEnvironment(env: Record<string, string | undefined>): ScheduledShard {
  const slurm = env.SLURM_ARRAY_TASK_ID !== undefined;
  const kubernetes = env.JOB_COMPLETION_INDEX !== undefined;
  if (slurm && kubernetes) {
    throw new UsageError(
      "--shard auto: both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set; give --shard i/n",
    );
  }
  if (slurm) return slurmShard(env);
  if (kubernetes) return kubernetesShard(env);
  throw new UsageError(
    `--shard auto: not a job-array task: neither SLURM_ARRAY_TASK_ID (Slurm, sbatch --array) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job, with ${KUBERNETES_COUNT_VARIABLE}) is set; give --shard i/n`,
  );
}

/**
 * The `--shard` flag: `i/n`, or `auto` ({@link shardFromEnvironment} on `env`).
 */
export function resolveShardFlag(
  text: string,
  env: Record<string, string | undefined>,
): Shard & { source?: string } {
  return text.trim() === "auto" ? shardFromEnvironment(env) : parseShard(text);
}

/**
 * The image ids of a shard: image ids sorted ascending, every n-th starting at i-1, so shards
 * are balanced and their union is the whole set.
 */
export function shardImageIds(sortedIds: readonly number[], shard?: Shard): number[] {
  if (!shard || shard.count === 1) return [...sortedIds];
  return sortedIds.filter((_, position) => position % shard.count === shard.index - 1);
}
