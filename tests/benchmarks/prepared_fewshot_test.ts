/**
 * `--fewshot-source prepared`: the trainers read GLIP's own `fewshot_{train,val}_shot{k}_seed{s}.json`
 * files from each task folder (fixtures in GLIP's layout, built here from the demo data) instead
 * of sampling, select on the k-shot val file, and a task without them fails naming the file.
 */
import { join } from "node:path";
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { generateDemoSet } from "../../datasets/demo/generate.ts";
import { loadCocoJson } from "../../datasets/coco_json.ts";
import { preparedFewShotCell, sampleFewShot, subsetCoco } from "../../datasets/fewshot.ts";
import { odinwDetectionTask } from "../../benchmarks/suites/odinw.ts";
import { trainCell } from "../../benchmarks/external_trainer.ts";
import { trainPromptCell } from "../../benchmarks/native_trainer.ts";
import { runBenchmark } from "../../benchmarks/bench_run.ts";
import { demoBundle } from "../../benchmarks/models.ts";
import { StageTimer } from "../../benchmarks/stage_timer.ts";
import { engines, registerBuiltins } from "../../core/registries.ts";
import { InputError, UsageError } from "../../core/errors.ts";
import type { DetectionTask } from "../../benchmarks/suite.ts";

/**
 * The demo in GLIP's layout under a fresh root, with prepared 1-shot seed-3 files for DemoColors
 * that the seeded sampler would not pick (the last train images, two val images).
 */
async function preparedFixture(): Promise<
  { task: DetectionTask; trainIds: number[]; valIds: number[] }
> {
  const set = await generateDemoSet(await makeTestDir({ prefix: "prepared-" }), { seed: 0 });
  const spec = set.tasks.find((t) => t.name === "DemoColors")!;
  const task = await odinwDetectionTask(spec, { root: set.root, split: "test", prompt: "raw" });
  const train = await loadCocoJson(task.trainAnnotationFile!);
  const val = await loadCocoJson(task.valAnnotationFile!);
  const trainIds = train.images.map((i) => i.id).slice(-3);
  const valIds = val.images.map((i) => i.id).slice(0, 2);
  assert(
    sampleFewShot(train, 1, { seed: 3 }).join() !== trainIds.join(),
    "the fixture must differ from what the sampler draws",
  );
  const { train: trainPath, val: valPath } = task.fewShotFiles!;
  const fill = (p: string) => p.replace("{shots}", "1").replace("{seed}", "3");
  await Deno.writeTextFile(fill(trainPath), JSON.stringify(subsetCoco(train, trainIds)));
  await Deno.writeTextFile(fill(valPath), JSON.stringify(subsetCoco(val, valIds)));
  return { task, trainIds, valIds };
}

Deno.test("the ODinW task points at GLIP's prepared files in its train and val folders", async () => {
  const { task } = await preparedFixture();
  assert(task.fewShotFiles!.train.endsWith("/train/fewshot_train_shot{shots}_seed{seed}.json"));
  assert(task.fewShotFiles!.val.endsWith("/valid/fewshot_val_shot{shots}_seed{seed}.json"));
  const cell = await preparedFewShotCell(task, 1, 3);
  assert(cell.train.endsWith("fewshot_train_shot1_seed3.json"));
  // another seed has no file: the error names it
  const error = await assertRejects(() => preparedFewShotCell(task, 1, 30), InputError);
  assertStringIncludes(error.message, "fewshot_train_shot1_seed30.json");
  await assertRejects(() => preparedFewShotCell(task, "all", 3), UsageError, "--shots all");
  await assertRejects(
    () => preparedFewShotCell({ name: "NoFiles" }, 1, 3),
    UsageError,
    "task NoFiles has no prepared k-shot files",
  );
});

Deno.test("--trainer COMMAND with prepared files gets GLIP's k-shot train file and k-shot val file", async () => {
  const { task, trainIds } = await preparedFixture();
  const out = await makeTestDir();
  const checkpoint = await trainCell({ task, shots: 1, seed: 3 }, {
    template:
      "cp {train_json} {out}/seen_train.json && printf %s {val_json} > {out}/val.txt && touch {out}/model_final.pth",
    outDir: out,
    sampler: "seeded",
    fewShotSource: "prepared",
  });
  const cellOut = join(checkpoint, "..");
  const seen = JSON.parse(await Deno.readTextFile(join(cellOut, "seen_train.json")));
  assertEquals(seen.images.map((i: { id: number }) => i.id), trainIds);
  assertEquals(
    await Deno.readTextFile(join(cellOut, "val.txt")),
    (await preparedFewShotCell(task, 1, 3)).val,
  );
});

Deno.test("--trainer native with prepared files trains on the prepared images and selects on the k-shot val", async () => {
  registerBuiltins();
  const { task, trainIds, valIds } = await preparedFixture();
  const out = await makeTestDir();
  const result = await trainPromptCell({ task, shots: 1, seed: 3 }, {
    bundle: await demoBundle(),
    factory: await engines.get("onnx"),
    engineOptions: { allowCpuFallback: false, dtype: "fp32", threads: 1 },
    timer: new StageTimer(),
    outDir: out,
    sampler: "seeded",
    fewShotSource: "prepared",
    overrides: { maxEpochs: 1, copies: 1 },
  });
  assertEquals(result.images, trainIds.length);
  // model selection ran on the prepared val images only
  const cellDir = join(result.checkpoint, "..");
  const detectionsDir = join(cellDir, "val", "detections");
  const seenImages = new Set<number>();
  for await (const entry of Deno.readDir(detectionsDir)) {
    if (!entry.name.endsWith(".jsonl")) continue;
    const text = await Deno.readTextFile(join(detectionsDir, entry.name));
    for (const line of text.split("\n").filter((l) => l.trim())) {
      const row = JSON.parse(line);
      if (typeof row.image_id === "number") seenImages.add(row.image_id);
      if (typeof row.imageId === "number") seenImages.add(row.imageId);
    }
  }
  assert(seenImages.size > 0, "val detections were written");
  for (const id of seenImages) {
    assert(valIds.includes(id), `val image ${id} is not in the k-shot val`);
  }
});

Deno.test("runBenchmark --fewshot-source prepared fails before training when a task lacks the files, naming the file", async () => {
  const outDir = await makeTestDir({ prefix: "prepared-missing-" });
  const error = await assertRejects(
    () =>
      runBenchmark({
        suite: "odinw",
        demo: true,
        protocol: "prompt-tuning",
        trainer: "native",
        fewShotSource: "prepared",
        tasks: ["DemoShapes"],
        shots: [1],
        seeds: [3],
        outDir,
      }),
    InputError,
  );
  assertStringIncludes(error.message, "fewshot_train_shot1_seed3.json");
  assertStringIncludes(error.message, "--fewshot-source sampled");
});

Deno.test("--fewshot-source is checked up front", async () => {
  const base = { suite: "odinw", demo: true, protocol: "prompt-tuning", trainer: "native" };
  await assertRejects(
    () => runBenchmark({ ...base, fewShotSource: "official" as "prepared" }),
    UsageError,
    "fewshot-source",
  );
  await assertRejects(
    () => runBenchmark({ ...base, fewShotSource: "prepared", shots: ["all"] }),
    UsageError,
    "--shots all",
  );
  await assertRejects(
    () => runBenchmark({ ...base, fewShotSource: "prepared", sampler: "sorted" }),
    UsageError,
    "give one",
  );
  await assertRejects(
    () =>
      runBenchmark({
        suite: "odinw",
        demo: true,
        protocol: "few-shot",
        checkpoints: "x/{task}",
        fewShotSource: "prepared",
      }),
    UsageError,
    "applies to --trainer",
  );
});
