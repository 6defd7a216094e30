/**
 * The few-shot protocol with checkpoints adapted elsewhere: every (task, shots, seed) checkpoint
 * evaluated on the test split, the 0-shot point from the base model, mean ± std over seeds.
 */
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";

Deno.test("bench --protocol few-shot --checkpoints evaluates every (task, shots, seed) cell and summarizes over seeds", async () => {
  const variants = [await nanoBundle(1), await nanoBundle(2)];
  const checkpoints = await makeTestDir({ prefix: "ckpts-" });
  for (const task of ["DemoShapes", "DemoColors"]) {
    for (const [i, cell] of ["1_3", "1_30", "3_3", "3_30"].entries()) {
      await Deno.mkdir(join(checkpoints, task), { recursive: true });
      await Deno.symlink(variants[i % 2].dir, join(checkpoints, task, cell));
    }
  }
  const out = await makeTestDir();
  const result = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "few-shot",
    "--shots",
    "1,3",
    "--seeds",
    "3,30",
    "--checkpoints",
    join(checkpoints, "{task}", "{shots}_{seed}"),
    "--limit",
    "2",
    "--out",
    out,
    "--json",
    "--no-report",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const record = await readRunRecord(join(out, "run.json"));
  assertEquals(record.protocol, "few-shot");
  assertEquals(Object.keys(record.summary.byShots ?? {}).sort(), ["1", "3"]);
  for (const task of record.tasks) {
    assertEquals(task.split, "test");
    assertEquals(task.cells?.map((c) => `${c.shots}_${c.seed}`), ["1_3", "1_30", "3_3", "3_30"]);
    assert(task.result !== undefined, "the 0-shot point comes from the base model");
  }
  const printed = JSON.parse(result.stdout);
  assertEquals(Object.keys(printed[0].tasks), ["DemoShapes", "DemoColors"]);
  // the ODinW leaderboard's few-shot format: dataset -> seed -> COCO results
  const oneShot = JSON.parse(
    await Deno.readTextFile(join(out, "leaderboard", "all_predictions_1_shot.json")),
  );
  assertEquals(Object.keys(oneShot), ["DemoShapes", "DemoColors"]);
  assertEquals(Object.keys(oneShot.DemoShapes), ["3", "30"]);
  assertEquals(Object.keys(oneShot.DemoShapes["3"][0]), [
    "image_id",
    "category_id",
    "bbox",
    "score",
  ]);
});

Deno.test("bench --protocol few-shot refuses a missing checkpoint before any inference", async () => {
  const result = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "few-shot",
    "--shots",
    "1",
    "--seeds",
    "3",
    "--checkpoints",
    "/nonexistent/{task}/{shots}_{seed}.pth",
    "--out",
    await makeTestDir(),
  ]);
  assertEquals(result.code, 2);
  assertStringIncludes(result.stderr, "checkpoint(s) missing");
});

Deno.test("bench --trainer runs the external command once per cell with the k-shot file, and not again on --resume", async () => {
  const nano = await nanoBundle(1);
  const out = await makeTestDir({ prefix: "bench-trainer-" });
  const calls = join(out, "calls.txt");
  // A stand-in trainer: records its arguments, copies the training file it was given, and leaves
  // a bundle folder as its "checkpoint".
  const trainer = `echo {task} {shots} {seed} >> ${calls} && cp {train_json} {out}/seen.json && ` +
    `cp -r ${nano.dir} {out}/model`;
  const args = [
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "few-shot",
    "--shots",
    "1,3",
    "--seeds",
    "3",
    "--tasks",
    "DemoShapes",
    "--trainer",
    trainer,
    "--limit",
    "2",
    "--out",
    out,
    "--no-report",
  ];
  const result = await runCli(args);
  assertEquals(result.code, 0, result.stderr);
  assertEquals((await Deno.readTextFile(calls)).trim().split("\n"), [
    "DemoShapes 1 3",
    "DemoShapes 3 3",
  ]);
  const { loadCocoJson } = await import("../../datasets/coco_json.ts");
  const { sampleFewShot } = await import("../../datasets/fewshot.ts");
  const record = await readRunRecord(join(out, "run.json"));
  const spec = record.taskSpecs!.find((t) => t.name === "DemoShapes")!;
  const train = await loadCocoJson(String(spec.trainAnnotationFile));
  const seen = JSON.parse(
    await Deno.readTextFile(join(out, "trainer", "DemoShapes", "3_3", "out", "seen.json")),
  );
  assertEquals(
    seen.images.map((i: { id: number }) => i.id),
    sampleFewShot(train, 3, { sampler: "seeded", seed: 3 }),
  );
  assertEquals(record.tasks[0].cells?.map((c) => `${c.shots}_${c.seed}`), ["1_3", "3_3"]);
  assertStringIncludes(record.settings.deliberateDifferences.join(" "), "external trainer");
  const resumed = await runCli([...args, "--resume"]);
  assertEquals(resumed.code, 0, resumed.stderr);
  assertEquals(
    (await Deno.readTextFile(calls)).trim().split("\n").length,
    2,
    "trained cells are kept",
  );
});

Deno.test("bench --trainer: a failing command fails the run with its log; bad templates are usage errors", async () => {
  const out = await makeTestDir({ prefix: "bench-trainer-fail-" });
  const base = [
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "few-shot",
    "--shots",
    "1",
    "--seeds",
    "3",
  ];
  const failing = await runCli([
    ...base,
    "--trainer",
    "echo out of memory >&2; exit 3 # {out}",
    "--out",
    out,
    "--no-report",
  ]);
  assertEquals(failing.code, 1);
  assertStringIncludes(failing.stderr, "the trainer failed (exit 3)");
  assertStringIncludes(failing.stderr, "out of memory");
  const noOut = await runCli([...base, "--trainer", "train {task}", "--out", out]);
  assertEquals(noOut.code, 2);
  assertStringIncludes(noOut.stderr, "{out}");
  const unknown = await runCli([...base, "--trainer", "train {tsk} {out}", "--out", out]);
  assertEquals(unknown.code, 2);
  assertStringIncludes(unknown.stderr, "{tsk}");
});
