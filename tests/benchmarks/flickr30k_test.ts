/**
 * The `flickr30k` suite: GLIP's grounding protocol on the Flickr30K-shaped demo (one caption
 * prompt per sentence, the backbone once per image), predictions bucketed as GLIP's
 * `flickr_post_process` does, and MDETR's recall computed from the stored detections.
 */
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { CACHE_DIR, nanoBundle } from "../../benchmarks/models.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { generateFlickrDemo } from "../../datasets/demo/flickr.ts";
import { flickrTask } from "../../benchmarks/suites/flickr30k.ts";
import { prepareTask, scoreTask } from "../../benchmarks/runner.ts";
import { flickrPrediction, type GroundingEntry } from "../../benchmarks/grounding.ts";
import type { DetectionRow } from "../../benchmarks/detection_store.ts";

const demoRoot = await generateFlickrDemo(join(CACHE_DIR, "demo-flickr30k"));

const entry: GroundingEntry = {
  entryId: 7,
  imageId: "42",
  sentenceId: 1,
  caption: "a red circle and a blue square .",
  fileName: "42.png",
  width: 10,
  height: 10,
  phraseSpans: [[[0, 12]], [[17, 30]]],
};

Deno.test("flickrPrediction() sorts by score, buckets by phrase and ends each bucket with a dummy box", () => {
  const rows: DetectionRow[] = [
    [1, 1, 5, 5, 0.2, 2],
    [2, 2, 6, 6, 0.9, 1],
    [3, 3, 7, 7, 0.5, 2],
    [4, 4, 8, 8, 0.5, 1],
  ];
  const prediction = flickrPrediction(entry, rows);
  assertEquals(prediction.image_id, "42");
  assertEquals(prediction.sentence_id, 1);
  assertEquals(prediction.boxes, [
    [[2, 2, 6, 6], [4, 4, 8, 8], [0, 0, 0, 0]],
    [[3, 3, 7, 7], [1, 1, 5, 5], [0, 0, 0, 0]],
  ]);
  assertEquals(flickrPrediction(entry, []).boxes, [[[0, 0, 0, 0]], [[0, 0, 0, 0]]]);
});

Deno.test("flickrPrediction() refuses a label that is not a phrase of the sentence", () => {
  const error = assertThrows(() => flickrPrediction(entry, [[1, 1, 5, 5, 0.2, 3]], "val.jsonl"));
  assertStringIncludes(String(error), "label 3 is not a phrase of entry 7");
  assertStringIncludes(String(error), "val.jsonl");
});

Deno.test("scoreTask() on ground-truth boxes gives recall 1; a higher-scored decoy moves hits from R@1 to R@5", async () => {
  const bundle = await nanoBundle(0);
  const outDir = await makeTestDir({ prefix: "flickr-score-" });
  const task = flickrTask(demoRoot, "val");
  const prepared = await prepareTask(task, { bundle, outDir });
  // the demo writes each entry's annotations in phrase order
  const byEntry = JSON.parse(await Deno.readTextFile(task.annotationFile)).annotations as {
    image_id: number;
    bbox: number[];
  }[];
  const rowsOf = (id: number, decoy: boolean) => {
    const rows = byEntry.filter((a) => a.image_id === id).map(({ bbox: [x, y, w, h] }, k) => [
      x,
      y,
      x + w - 1,
      y + h - 1,
      0.5,
      k + 1,
    ]);
    if (decoy) rows.push([0, 0, 2, 2, 0.9, 1]);
    return rows;
  };
  const store = async (decoy: boolean) => {
    await Deno.mkdir(join(outDir, "detections"), { recursive: true });
    await Deno.writeTextFile(
      prepared.detectionsFile,
      prepared.imageIds.map((id) => JSON.stringify({ image_id: id, detections: rowsOf(id, decoy) }))
        .join("\n") + "\n",
    );
  };
  await store(false);
  const perfect = await scoreTask(prepared);
  assertEquals(perfect.metric, "flickr30k");
  assertEquals(perfect.named, { "R@1": 1, "R@5": 1, "R@10": 1, "R@UB": 1 });
  await store(true);
  const decoyed = await scoreTask(prepared);
  assert(decoyed.named["R@1"] < 1, `R@1 with decoys: ${decoyed.named["R@1"]}`);
  assertEquals(decoyed.named["R@5"], 1);
  assert(Object.keys(decoyed.byType!).length >= 2, "recall by phrase type");
});

Deno.test("bench flickr30k --demo: the backbone once per image, text and head once per sentence; shards merge to the same run", async () => {
  const out = await makeTestDir({ prefix: "bench-flickr-" });
  const result = await runCli([
    "bench",
    "flickr30k",
    "--demo",
    "--out",
    out,
    "--json",
    "--no-report",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const record = await readRunRecord(join(out, "run.json"));
  assertEquals(record.tasks.map((t) => t.name), ["val", "test"]);
  assertEquals(record.summary.metric, "R@1");
  assertEquals(record.invocations.image, 12);
  assertEquals(record.invocations.text, 24);
  assertEquals(record.invocations.head, 24);
  const stored = await Deno.readTextFile(join(out, "detections", "val.jsonl"));
  assert(stored.includes("[["), "the nano model emits detections");
  // the written predictions, scored by 'eval flickr30k', give the run record's recall
  const evaluated = await runCli([
    "eval",
    "flickr30k",
    "--root",
    join(demoRoot, "flickr30k", "flickr30k"),
    "--subset",
    "val",
    "--pred",
    join(out, "detections", "val.flickr.json"),
    "--json",
  ]);
  assertEquals(evaluated.code, 0, evaluated.stderr);
  const recall = JSON.parse(evaluated.stdout);
  const val = record.tasks[0].result!;
  assertEquals(val.named["R@1"], recall["1"].all);
  assertEquals(val.named["R@UB"], recall["-1"].all);
  // two shards (whole images each) merged give the same detections and recall
  const shardDirs = [];
  for (const index of [1, 2]) {
    const dir = await makeTestDir({ prefix: `bench-flickr-shard${index}-` });
    const shard = await runCli([
      "bench",
      "flickr30k",
      "--demo",
      "--shard",
      `${index}/2`,
      "--out",
      dir,
      "--no-report",
    ]);
    assertEquals(shard.code, 0, shard.stderr);
    shardDirs.push(dir);
  }
  const merged = await makeTestDir({ prefix: "bench-flickr-merged-" });
  const merge = await runCli(["bench", "merge", ...shardDirs, "--out", merged, "--no-report"]);
  assertEquals(merge.code, 0, merge.stderr);
  for (const split of ["val", "test"]) {
    // the detections and MDETR's predictions file ('eval flickr30k --pred' reads it)
    for (const file of [`${split}.jsonl`, `${split}.flickr.json`]) {
      assertEquals(
        await Deno.readTextFile(join(merged, "detections", file)),
        await Deno.readTextFile(join(out, "detections", file)),
        `merged ${file}`,
      );
    }
  }
  const mergedRecord = await readRunRecord(join(merged, "run.json"));
  assertEquals(mergedRecord.tasks.map((t) => t.result), record.tasks.map((t) => t.result));
});

Deno.test("bench flickr30k --limit cuts whole images; a bad split fails with exit code 2", async () => {
  const out = await makeTestDir({ prefix: "bench-flickr-limit-" });
  const limited = await runCli([
    "bench",
    "flickr30k",
    "--demo",
    "--split",
    "test",
    "--limit",
    "2",
    "--out",
    out,
    "--no-report",
  ]);
  assertEquals(limited.code, 0, limited.stderr);
  const record = await readRunRecord(join(out, "run.json"));
  assertEquals(record.invocations.image, 2);
  assertEquals(record.invocations.text, 4);
  const bad = await runCli(["bench", "flickr30k", "--demo", "--split", "train"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "--split is val, test");
});
