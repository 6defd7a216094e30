import { assertEquals, assertThrows } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import {
  fewShotFileName,
  hasValidAnnotation,
  preparedFewShotPath,
  sampleFewShot,
  subsetCoco,
} from "../../datasets/fewshot.ts";
import { loadCocoJson } from "../../datasets/coco_json.ts";
import { odinwTask } from "../../datasets/odinw.ts";
import { InputError } from "../../core/errors.ts";

const oracleDir = new URL("oracles/fewshot/", FIXTURES);
const gt = await loadCocoJson(new URL("fewshot-a.gt.json", oracleDir).pathname);
const expected: {
  cocoDataset: Record<string, number[]>;
  cocoGrounding: Record<string, number[]>;
} = JSON.parse(await Deno.readTextFile(new URL("fewshot-a.expected.json", oracleDir)));

Deno.test("the few-shot oracle has 12 seeded cases (k 1,3,5,10 x seeds 3,30,300) and 4 sorted", () => {
  assertEquals(Object.keys(expected.cocoDataset).length, 12);
  assertEquals(Object.keys(expected.cocoGrounding).sort(), ["1", "10", "3", "5"]);
});

for (const [key, ids] of Object.entries(expected.cocoDataset)) {
  const [shots, seed] = key.split("_").map(Number);
  Deno.test(`sampleFewShot() seeded k=${shots} seed=${seed} picks COCODataset's images in order`, () => {
    assertEquals(sampleFewShot(gt, shots, { seed, sampler: "seeded" }), ids);
  });
}

for (const [key, ids] of Object.entries(expected.cocoGrounding)) {
  const shots = Number(key);
  Deno.test(`sampleFewShot() sorted k=${shots} picks CocoGrounding's images for every seed`, () => {
    for (const seed of [0, 3, 30, 300]) {
      assertEquals(sampleFewShot(gt, shots, { seed, sampler: "sorted" }), ids);
    }
  });
}

Deno.test("hasValidAnnotation() drops images whose boxes all have a side <= 1 (GLIP's rule)", () => {
  assertEquals(hasValidAnnotation([]), false);
  assertEquals(hasValidAnnotation([{ bbox: [0, 0, 1, 50] }, { bbox: [0, 0, 50, 0.5] }]), false);
  assertEquals(hasValidAnnotation([{ bbox: [0, 0, 1, 50] }, { bbox: [0, 0, 1.01, 2] }]), true);
});

const box: [number, number, number, number] = [0, 0, 10, 10];

Deno.test("seed 0 means no shuffle: the seeded sampler then equals the sorted one", () => {
  const source = {
    path: "x.json",
    images: [{ id: 5 }, { id: 2 }, { id: 9 }],
    annotations: [
      { image_id: 9, category_id: 1, bbox: box },
      { image_id: 2, category_id: 1, bbox: box },
      { image_id: 5, category_id: 2, bbox: box },
    ],
    categories: [{ id: 1 }, { id: 2 }],
  };
  assertEquals(sampleFewShot(source, 1, { seed: 0 }), [2, 5]);
  assertEquals(sampleFewShot(source, 1, { sampler: "sorted" }), [2, 5]);
});

Deno.test("the seeded sampler sizes cats_freq by the category count, so id 3 of {1,3} fails as in Python", () => {
  const source = {
    path: "x.json",
    images: [{ id: 1 }, { id: 2 }, { id: 3 }],
    annotations: [
      { image_id: 1, category_id: 3, bbox: box },
      { image_id: 2, category_id: 1, bbox: box },
      { image_id: 3, category_id: 3, bbox: box },
    ],
    categories: [{ id: 1 }, { id: 3 }],
  };
  // cats_freq has 2 slots: category 3 indexes slot 2 -> IndexError in Python.
  const error = assertThrows(() => sampleFewShot(source, 1), InputError, "IndexError");
  assertEquals(error.message.includes("(got 3)"), true);
  // CocoGrounding sizes by max id (3), so the same file works there.
  assertEquals(sampleFewShot(source, 1, { sampler: "sorted" }), [1, 2]);
});

Deno.test("sampleFewShot() rejects shots < 1 with the value", () => {
  assertThrows(() => sampleFewShot(gt, 0), RangeError, "got 0");
});

Deno.test("subsetCoco() keeps the chosen images in order with all their annotations", () => {
  const ids = expected.cocoDataset["1_3"];
  const subset = subsetCoco(gt, ids) as {
    images: { id: number }[];
    annotations: { image_id: number }[];
    categories: unknown[];
  };
  assertEquals(subset.images.map((i) => i.id), ids);
  const chosen = new Set(ids);
  assertEquals(
    subset.annotations.length,
    gt.annotations.filter((a) => chosen.has(a.image_id)).length,
  );
  assertEquals(subset.categories, gt.raw.categories);
});

Deno.test("prepared few-shot files follow GLIP's names and the manifest's folders", () => {
  assertEquals(fewShotFileName("train", 3, 30), "fewshot_train_shot3_seed30.json");
  assertEquals(
    preparedFewShotPath(odinwTask("Aquarium"), "train", 5, 300, "/data"),
    `/data/${odinwTask("Aquarium").splits.train.imgDir}/fewshot_train_shot5_seed300.json`,
  );
});

Deno.test("deno task fewshot --json prints GLIP's selections; --out writes the few-shot COCO files", async () => {
  const { runCli } = await import("../cli_helpers.ts");
  const annotations = new URL("fewshot-a.gt.json", oracleDir).pathname;
  const out = await Deno.makeTempDir();
  try {
    const result = await runCli([
      "fewshot",
      "--ann",
      annotations,
      "--shots",
      "1,3",
      "--seeds",
      "3,30",
      "--json",
      "--out",
      out,
    ]);
    assertEquals(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout);
    assertEquals(printed["3_30"], expected.cocoDataset["3_30"]);
    const written = JSON.parse(await Deno.readTextFile(`${out}/fewshot_train_shot1_seed3.json`));
    assertEquals(written.images.map((i: { id: number }) => i.id), expected.cocoDataset["1_3"]);
    const sorted = await runCli([
      "fewshot",
      "--ann",
      annotations,
      "--shots",
      "3",
      "--sampler",
      "sorted",
      "--json",
    ]);
    assertEquals(JSON.parse(sorted.stdout)["3"], expected.cocoGrounding["3"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("deno task fewshot exits 2 on an unknown sampler and 1 on truncated JSON", async () => {
  const { runCli } = await import("../cli_helpers.ts");
  const annotations = new URL("fewshot-a.gt.json", oracleDir).pathname;
  const bad = await runCli(["fewshot", "--ann", annotations, "--sampler", "random"]);
  assertEquals(bad.code, 2, bad.stderr);
  const dir = await Deno.makeTempDir();
  try {
    const truncated = `${dir}/train.json`;
    await Deno.writeTextFile(truncated, (await Deno.readTextFile(annotations)).slice(0, 500));
    const result = await runCli(["fewshot", "--ann", truncated, "--json"]);
    assertEquals(result.code, 1, result.stderr);
    assertEquals(result.stderr.includes(truncated), true, result.stderr);
    assertEquals(result.stderr.includes("    at "), false, result.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
