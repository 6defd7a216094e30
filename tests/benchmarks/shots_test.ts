/**
 * Shot counts of the adapting protocols: integers >= 1 or `all` (GLIP's full-data tuning, with
 * its own patience and copies); 0 is the zero-shot protocol and is refused up front.
 */
import { join } from "node:path";
import { makeTestDir } from "../temp_dir.ts";
import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../assert.ts";
import { checkShots, headlineShots, parseShots } from "../../benchmarks/adaptation.ts";
import { runBenchmark } from "../../benchmarks/bench_run.ts";
import { UsageError } from "../../core/errors.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { glipCopies, glipPromptTuningSettings } from "../../models/train/prompt_tuner.ts";

Deno.test("parseShots() takes integers >= 1 and 'all'", () => {
  assertEquals(parseShots(["1", "3", "all"]), [1, 3, "all"]);
  assertEquals(parseShots(["ALL"]), ["all"]);
  assertThrows(() => parseShots(["two"]), UsageError, "integers >= 1 or 'all' (got 'two')");
  assertThrows(() => parseShots(["1.5"]), UsageError, "got '1.5'");
  assertThrows(() => parseShots(["-1"]), UsageError, "got -1");
  assertThrows(() => parseShots(["1", "1"]), UsageError, "twice");
});

Deno.test("checkShots() refuses 0 with a pointer to --protocol zero-shot", () => {
  const error = assertThrows(() => checkShots([1, 0]), UsageError);
  assertStringIncludes(error.message, "--shots 0 is the zero-shot protocol");
  assertStringIncludes(error.message, "--protocol zero-shot");
  assertThrows(() => checkShots([]), UsageError, "names no shot count");
});

Deno.test("headlineShots() is 'all' when full data ran, else the largest k", () => {
  assertEquals(headlineShots([1, 10, 3]), 10);
  assertEquals(headlineShots([1, "all", 3]), "all");
});

Deno.test("GLIP's full-data setting 0_200_1: one copy, STEP_PATIENCE 2, AUTO_TERMINATE_PATIENCE 4", () => {
  const full = glipPromptTuningSettings("all");
  assertEquals([full.copies, full.stepPatience, full.stopPatience, full.maxEpochs], [1, 2, 4, 200]);
  const few = glipPromptTuningSettings(1);
  assertEquals([few.copies, few.stepPatience, few.stopPatience], [8, 3, 8]);
  assertEquals([1, 3, 5, 10, "all" as const].map(glipCopies), [8, 4, 2, 1, 1]);
});

Deno.test("runBenchmark refuses shots 0 before touching the run folder", async () => {
  const out = join(await makeTestDir(), "never-made");
  await assertRejects(
    () =>
      runBenchmark({
        suite: "odinw",
        demo: true,
        protocol: "few-shot",
        shots: [0],
        checkpoints: "/nonexistent/{task}/{shots}_{seed}",
        outDir: out,
      }),
    UsageError,
    "--protocol zero-shot",
  );
  await assertRejects(() => Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("--shots all with --checkpoints: {shots} is 'all', the summary and leaderboard files are full-data", async () => {
  const nano = await nanoBundle(1);
  const checkpoints = await makeTestDir({ prefix: "ckpts-all-" });
  for (const task of ["DemoShapes", "DemoColors"]) {
    await Deno.mkdir(join(checkpoints, task), { recursive: true });
    await Deno.symlink(nano.dir, join(checkpoints, task, "all_3"));
    await Deno.symlink(nano.dir, join(checkpoints, task, "all_30"));
  }
  const out = await makeTestDir();
  const result = await runBenchmark({
    suite: "odinw",
    demo: true,
    protocol: "few-shot",
    shots: ["all"],
    seeds: [3, 30],
    checkpoints: join(checkpoints, "{task}", "{shots}_{seed}"),
    limit: 1,
    outDir: out,
  });
  const record = await readRunRecord(join(result.runs[0].dir, "run.json"));
  assertEquals(Object.keys(record.summary.byShots ?? {}), ["all"]);
  assertEquals(record.summary.metric, "AP (full data, mean over seeds)");
  assertEquals(record.settings.shots, ["all"]);
  for (const task of record.tasks) {
    assertEquals(task.cells?.map((c) => `${c.shots}_${c.seed}`), ["all_3", "all_30"]);
  }
  // the leaderboard's full-shot format (dataset -> results) holds one model: a file per seed
  for (const seed of [3, 30]) {
    const full = JSON.parse(
      await Deno.readTextFile(
        join(out, `seed-${seed}`, "leaderboard", "all_predictions_fullshot.json"),
      ),
    );
    assertEquals(Object.keys(full), ["DemoShapes", "DemoColors"]);
    assertEquals(Array.isArray(full.DemoShapes), true);
  }
});
