/**
 * `bench coco --split test-dev`: the images of COCO's test-dev image info file run (a tiny
 * fixture in COCO's layout), no metric is computed, and the results file is written named and
 * zipped as the COCO evaluation server expects.
 */
import { join } from "node:path";
import { unzipSync } from "fflate";
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { generateDemoSet } from "../../datasets/demo/generate.ts";
import { runBenchmark } from "../../benchmarks/bench_run.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { serverAlgorithmName, testDevResultsName } from "../../benchmarks/coco_test_dev.ts";
import { InputError, UsageError } from "../../core/errors.ts";

/** COCO's layout: coco/annotations/image_info_test-dev2017.json and the images in coco/test2017. */
async function testDevFixture(extra: Record<string, unknown> = {}): Promise<string> {
  const demo = await generateDemoSet(await makeTestDir({ prefix: "testdev-demo-" }), { seed: 0 });
  const source = join(demo.root, "odinw", "DemoShapes", "test");
  const demoInfo = JSON.parse(
    await Deno.readTextFile(join(source, "annotations_without_background.json")),
  );
  const root = await makeTestDir({ prefix: "testdev-root-" });
  await Deno.mkdir(join(root, "coco", "annotations"), { recursive: true });
  await Deno.mkdir(join(root, "coco", "test2017"), { recursive: true });
  const images = demoInfo.images.slice(0, 2).map((
    image: { id: number; file_name: string; width: number; height: number },
    i: number,
  ) => ({ id: 1000 + i, file_name: image.file_name, width: image.width, height: image.height }));
  for (const image of images) {
    await Deno.copyFile(
      join(source, image.file_name),
      join(root, "coco", "test2017", image.file_name),
    );
  }
  await Deno.writeTextFile(
    join(root, "coco", "annotations", "image_info_test-dev2017.json"),
    JSON.stringify({
      info: { description: "test-dev fixture" },
      images,
      categories: demoInfo.categories.map((c: { id: number; name: string }) => ({
        id: c.id,
        name: c.name,
      })),
      ...extra,
    }),
  );
  return root;
}

Deno.test("serverAlgorithmName() keeps the results name splittable on '_'", () => {
  assertEquals(serverAlgorithmName("glip_tiny (ours)"), "glip-tiny-ours");
  assertEquals(serverAlgorithmName("___"), "glip");
  assertEquals(testDevResultsName("nano"), "detections_test-dev2017_nano_results.json");
});

Deno.test("bench coco --split test-dev writes the server's zipped results file and no metric", async () => {
  const root = await testDevFixture();
  const nano = await nanoBundle(1);
  const out = await makeTestDir();
  const lines: string[] = [];
  const result = await runBenchmark({
    suite: "coco",
    split: "test-dev",
    dataRoot: root,
    models: [nano.dir],
    outDir: out,
    log: (line) => lines.push(line),
  });
  const record = await readRunRecord(join(result.runs[0].dir, "run.json"));
  assertEquals(record.tasks[0].name, "test-dev2017");
  assertEquals(record.tasks[0].images, 2);
  assertEquals(record.tasks[0].result, undefined);
  assertEquals(record.summary.mean, -1);
  assertStringIncludes(record.summary.metric, "evaluation server");
  assert(record.settings.deliberateDifferences.some((d) => d.includes("no metric is computed")));
  assert(lines.some((l) => l.includes("no metric is computed locally")), lines.join("\n"));
  const submission = join(out, "submission");
  const zips = [...Deno.readDirSync(submission)].map((e) => e.name);
  assertEquals(zips.length, 1);
  assert(/^detections_test-dev2017_[A-Za-z0-9-]+_results\.zip$/.test(zips[0]), zips[0]);
  const files = unzipSync(await Deno.readFile(join(submission, zips[0])));
  assertEquals(Object.keys(files), [zips[0].replace(/\.zip$/, ".json")]);
  const results = JSON.parse(new TextDecoder().decode(Object.values(files)[0]));
  assert(results.length > 0, "the nano model detects something");
  for (const r of results) {
    assertEquals(Object.keys(r), ["image_id", "category_id", "bbox", "score"]);
    assert([1000, 1001].includes(r.image_id), `image ${r.image_id} is a test-dev image`);
  }
});

Deno.test("bench coco --split test-dev refuses what cannot be a test-dev run", async () => {
  const nano = await nanoBundle(1);
  const empty = await makeTestDir();
  await Deno.mkdir(join(empty, "coco", "annotations"), { recursive: true });
  await Deno.writeTextFile(
    join(empty, "coco", "annotations", "instances_val2017.json"),
    JSON.stringify({ images: [], annotations: [], categories: [] }),
  );
  // the image info file is missing: named, with where to get it
  const missing = await assertRejects(
    () =>
      runBenchmark({
        suite: "coco",
        split: "test-dev",
        dataRoot: empty,
        models: [nano.dir],
        outDir: join(empty, "out"),
      }),
    UsageError,
  );
  assertStringIncludes(missing.message, "image_info_test-dev2017.json");
  // a file with annotations is not COCO's test-dev image info
  const annotated = await testDevFixture({
    annotations: [{
      id: 1,
      image_id: 1000,
      category_id: 1,
      bbox: [1, 1, 5, 5],
      area: 25,
      iscrowd: 0,
    }],
  });
  await assertRejects(
    () =>
      runBenchmark({
        suite: "coco",
        split: "test-dev",
        dataRoot: annotated,
        models: [nano.dir],
        outDir: join(annotated, "out"),
      }),
    InputError,
    "test-dev has no public annotations",
  );
  const root = await testDevFixture();
  await assertRejects(
    () =>
      runBenchmark({
        suite: "coco",
        split: "test-dev",
        dataRoot: root,
        models: [nano.dir],
        shard: { index: 0, count: 2 },
        outDir: join(root, "out"),
      }),
    UsageError,
    "unsharded",
  );
  await assertRejects(
    () =>
      runBenchmark({
        suite: "coco",
        split: "test-dev",
        dataRoot: root,
        models: [nano.dir],
        protocol: "few-shot",
        checkpoints: "x/{task}",
        outDir: join(root, "out2"),
      }),
    UsageError,
    "--protocol zero-shot",
  );
  await assertRejects(
    () =>
      runBenchmark({
        suite: "coco",
        split: "test2017",
        dataRoot: root,
        models: [nano.dir],
        outDir: join(root, "out3"),
      }),
    UsageError,
    "--split is val2017 or test-dev",
  );
});
