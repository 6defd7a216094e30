import { assertEquals } from "../assert.ts";
import { SHARED } from "../cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { PythonRandom } from "../../datasets/python_random.ts";
import { sampleFewShot } from "../../datasets/fewshot.ts";
import { loadCocoJson } from "../../datasets/coco_json.ts";

const dir = fileURLToPath(new URL("oracles/fewshot/", SHARED));
// Seeds above 2^53 lose precision as JSON numbers: read them as strings.
const shuffles: { seed: number | string; n: number; shuffled: number[] }[] = JSON.parse(
  (await Deno.readTextFile(`${dir}python-random-shuffle.json`)).replace(
    /"seed": (\d{16,})/g,
    '"seed": "$1"',
  ),
);
const expected = JSON.parse(await Deno.readTextFile(`${dir}fewshot-a.expected.json`));
const dataset = await loadCocoJson(`${dir}fewshot-a.gt.json`);

Deno.test("PythonRandom.shuffle() equals CPython's random.Random(seed).shuffle for every oracle case", () => {
  for (const { seed, n, shuffled } of shuffles) {
    const list = Array.from({ length: n }, (_, i) => i);
    new PythonRandom(BigInt(seed)).shuffle(list);
    assertEquals(list, shuffled, `seed ${seed}, n ${n}`);
  }
});

for (const key of Object.keys(expected.cocoDataset)) {
  Deno.test(`the seeded sampler (COCODataset) reproduces GLIP for shots_seed ${key}`, () => {
    const [shots, seed] = key.split("_").map(Number);
    assertEquals(
      sampleFewShot(dataset, shots, { sampler: "seeded", seed }),
      expected.cocoDataset[key],
    );
  });
}

for (const key of Object.keys(expected.cocoGrounding)) {
  Deno.test(`the sorted sampler (CocoGrounding) reproduces GLIP for ${key} shots`, () => {
    assertEquals(
      sampleFewShot(dataset, Number(key), { sampler: "sorted" }),
      expected.cocoGrounding[key],
    );
  });
}

Deno.test("deno task fewshot --json prints GLIP's selections; --out writes the few-shot COCO files", async () => {
  const { runCli } = await import("../cli_helpers.ts");
  const out = await Deno.makeTempDir();
  const result = await runCli([
    "fewshot",
    "--ann",
    `${dir}fewshot-a.gt.json`,
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
  assertEquals(
    written.images.map((i: { id: number }) => i.id).sort((a: number, b: number) => a - b),
    [...expected.cocoDataset["1_3"]].sort((a, b) => a - b),
  );
  const sorted = await runCli([
    "fewshot",
    "--ann",
    `${dir}fewshot-a.gt.json`,
    "--shots",
    "3",
    "--sampler",
    "sorted",
    "--json",
  ]);
  assertEquals(JSON.parse(sorted.stdout)["3"], expected.cocoGrounding["3"]);
});
