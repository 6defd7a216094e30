/**
 * `--shard i/n` and `--shard auto`: which slice a Slurm array task or a Kubernetes Indexed Job
 * pod runs, and the refusals when the environment does not say (usage errors, exit 2).
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { UsageError } from "../../core/errors.ts";
import {
  parseShard,
  resolveShardFlag,
  shardFromEnvironment,
  shardImageIds,
} from "../../benchmarks/shard.ts";

const slice = (env: Record<string, string>) => {
  const { index, count } = shardFromEnvironment(env);
  return `${index}/${count}`;
};

Deno.test("a Slurm array task is the shard of its place in the array, 1-based or 0-based", () => {
  const array = (id: number, min: number, max: number) => ({
    SLURM_ARRAY_TASK_ID: String(id),
    SLURM_ARRAY_TASK_MIN: String(min),
    SLURM_ARRAY_TASK_MAX: String(max),
    SLURM_ARRAY_TASK_COUNT: String(max - min + 1),
  });
  assertEquals([1, 2, 3, 4].map((id) => slice(array(id, 1, 4))), ["1/4", "2/4", "3/4", "4/4"]);
  assertEquals([0, 1, 2, 3].map((id) => slice(array(id, 0, 3))), ["1/4", "2/4", "3/4", "4/4"]);
  // MAX alone gives the size; a step (--array=0-6:2) numbers every second id
  assertEquals(
    slice({ SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "3" }),
    "3/4",
  );
  assertEquals(
    slice({
      SLURM_ARRAY_TASK_ID: "4",
      SLURM_ARRAY_TASK_MIN: "0",
      SLURM_ARRAY_TASK_MAX: "6",
      SLURM_ARRAY_TASK_STEP: "2",
      SLURM_ARRAY_TASK_COUNT: "4",
    }),
    "3/4",
  );
  const shard = shardFromEnvironment(array(2, 1, 2));
  assertEquals(shard.source.startsWith("Slurm job array (SLURM_ARRAY_TASK_ID=2"), true);
});

Deno.test("--shard auto refuses Slurm arrays whose task places are unknown or uneven", () => {
  assertThrows(
    () => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_COUNT: "4" }),
    UsageError,
    "lacks SLURM_ARRAY_TASK_MIN",
  );
  assertThrows(
    () => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_MIN: "1" }),
    UsageError,
    "the number of shards is unknown",
  );
  // --array=1,5,7: three tasks spread over 1..7
  assertThrows(
    () =>
      shardFromEnvironment({
        SLURM_ARRAY_TASK_ID: "5",
        SLURM_ARRAY_TASK_MIN: "1",
        SLURM_ARRAY_TASK_MAX: "7",
        SLURM_ARRAY_TASK_COUNT: "3",
      }),
    UsageError,
    "not an evenly spaced array",
  );
  assertThrows(
    () =>
      shardFromEnvironment({
        SLURM_ARRAY_TASK_ID: "9",
        SLURM_ARRAY_TASK_MIN: "1",
        SLURM_ARRAY_TASK_COUNT: "4",
      }),
    UsageError,
    "not a task of the array",
  );
  assertThrows(
    () => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: "x1", SLURM_ARRAY_TASK_MIN: "1" }),
    UsageError,
    "SLURM_ARRAY_TASK_ID must be a whole number >= 0 (got 'x1')",
  );
});

Deno.test("a Kubernetes Indexed Job pod is shard JOB_COMPLETION_INDEX + 1 of JOB_COMPLETIONS", () => {
  assertEquals(
    [0, 1, 2].map((i) => slice({ JOB_COMPLETION_INDEX: String(i), JOB_COMPLETIONS: "3" })),
    ["1/3", "2/3", "3/3"],
  );
  assertThrows(
    () => shardFromEnvironment({ JOB_COMPLETION_INDEX: "0" }),
    UsageError,
    "set JOB_COMPLETIONS in the pod's env to the Job's spec.completions",
  );
  assertThrows(
    () => shardFromEnvironment({ JOB_COMPLETION_INDEX: "3", JOB_COMPLETIONS: "3" }),
    UsageError,
    "JOB_COMPLETION_INDEX must be < JOB_COMPLETIONS",
  );
});

Deno.test("--shard auto outside a job array, or in both kinds at once, is a usage error", () => {
  assertThrows(() => shardFromEnvironment({}), UsageError, "not a job-array task");
  assertThrows(
    () =>
      shardFromEnvironment({
        SLURM_ARRAY_TASK_ID: "1",
        SLURM_ARRAY_TASK_MIN: "1",
        SLURM_ARRAY_TASK_COUNT: "2",
        JOB_COMPLETION_INDEX: "0",
        JOB_COMPLETIONS: "2",
      }),
    UsageError,
    "both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set",
  );
});

Deno.test("--shard takes i/n or auto; shards partition the images", () => {
  assertEquals(resolveShardFlag("2/3", { JOB_COMPLETION_INDEX: "0" }), { index: 2, count: 3 });
  assertEquals(
    resolveShardFlag("auto", { JOB_COMPLETION_INDEX: "0", JOB_COMPLETIONS: "2" }).index,
    1,
  );
  for (const bad of ["0/3", "4/3", "2", "auto2", ""]) {
    assertThrows(() => parseShard(bad), UsageError, "--shard must be i/n");
  }
  const ids = [5, 8, 13, 21, 34, 55, 89];
  const slices = [1, 2, 3].map((index) => shardImageIds(ids, { index, count: 3 }));
  assertEquals(slices, [[5, 21, 89], [8, 34], [13, 55]]);
});
