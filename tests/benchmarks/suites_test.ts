/**
 * The coco and lvis suites on small data in their layouts, built from the demo set: the COCO
 * suite scores COCO AP; the LVIS suite runs 40-name chunks (the backbone once per image) and
 * scores FixedAP with APr/APc/APf.
 */
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals } from "../assert.ts";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { CACHE_DIR, nanoBundle } from "../../benchmarks/models.ts";
import { generateDemoSet } from "../../datasets/demo/generate.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";

const bundle = await nanoBundle(0);
const demo = await generateDemoSet(join(CACHE_DIR, "demo-data"));
const source = join(demo.root, "odinw", "DemoShapes", "valid");
const gt = JSON.parse(await Deno.readTextFile(join(source, "annotations_without_background.json")));

async function layout(): Promise<string> {
  const root = await makeTestDir({ prefix: "suite-data-" });
  await Deno.mkdir(join(root, "coco", "annotations"), { recursive: true });
  await Deno.mkdir(join(root, "coco", "val2017"), { recursive: true });
  for (const image of gt.images) {
    await Deno.copyFile(
      join(source, image.file_name),
      join(root, "coco", "val2017", image.file_name),
    );
  }
  return root;
}

Deno.test("bench coco runs val2017 with COCO AP", async () => {
  const root = await layout();
  await Deno.writeTextFile(
    join(root, "coco", "annotations", "instances_val2017.json"),
    JSON.stringify(gt),
  );
  const out = await makeTestDir();
  const result = await runCli([
    "bench",
    "coco",
    "--data",
    root,
    "--model",
    bundle.dir,
    "--limit",
    "3",
    "--out",
    out,
    "--no-report",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const record = await readRunRecord(join(out, "run.json"));
  assertEquals(record.tasks[0].name, "val2017");
  assertEquals(record.tasks[0].result?.metric, "coco");
});

Deno.test("bench lvis runs 40-name chunks (backbone once per image) and scores FixedAP with APr/APc/APf", async () => {
  const root = await layout();
  // 45 categories: the 3 real ones and 42 absent ones, so the prompt needs two chunks
  const categories = Array.from({ length: 45 }, (_, i) => ({
    id: i + 1,
    name: i < 3 ? gt.categories[i].name : `thing_${i}_(extra)`,
    frequency: ["r", "c", "f"][i % 3],
  }));
  const lvis = {
    images: gt.images.map((
      image: { id: number; file_name: string; width: number; height: number },
    ) => ({
      id: image.id,
      width: image.width,
      height: image.height,
      coco_url: `http://images.cocodataset.org/val2017/${image.file_name}`,
      neg_category_ids: [10, 11],
      not_exhaustive_category_ids: [],
    })),
    annotations: gt.annotations,
    categories,
  };
  await Deno.writeTextFile(
    join(root, "coco", "annotations", "lvis_v1_minival_inserted_image_name.json"),
    JSON.stringify(lvis),
  );
  const out = await makeTestDir();
  const result = await runCli([
    "bench",
    "lvis",
    "--data",
    root,
    "--model",
    bundle.dir,
    "--limit",
    "3",
    "--out",
    out,
    "--no-report",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const record = await readRunRecord(join(out, "run.json"));
  const task = record.tasks[0];
  assertEquals(task.prompts.length, 2);
  assertEquals(record.invocations.image, 3);
  assertEquals(record.invocations.head, 6);
  assertEquals(task.result?.metric, "lvis");
  for (const key of ["AP", "APr", "APc", "APf", "AR@-1"]) assert(key in task.result!.named, key);
});
