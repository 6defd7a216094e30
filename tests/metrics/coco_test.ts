import { assertEquals, assertThrows } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import {
  CocoEvaluator,
  evaluateCoco,
  linspace,
  mergeDescendingRuns,
} from "../../benchmarks/metrics/coco.ts";
import { numpySum } from "../../benchmarks/metrics/numpy_mean.ts";
import { InputError } from "../../core/errors.ts";

const dir = new URL("oracles/coco/", FIXTURES);
const read = async (file: string) => JSON.parse(await Deno.readTextFile(new URL(file, dir)));

for (const name of ["coco-a", "coco-edge", "coco-sparse"]) {
  Deno.test(`evaluateCoco() reproduces pycocotools bit for bit on ${name}`, async () => {
    const expected = await read(`${name}.expected.json`);
    const result = evaluateCoco(await read(`${name}.gt.json`), await read(`${name}.dt.json`));
    assertEquals(result.stats, expected.stats);
    assertEquals(result.named, expected.named);
    for (
      const [catId, values] of Object.entries(
        expected.perCategory as Record<string, Record<string, number>>,
      )
    ) {
      for (const [key, value] of Object.entries(values)) {
        assertEquals(result.perCategory[catId][key], value, `${catId}.${key}`);
      }
    }
  });
}

Deno.test("linspace() reproduces numpy's thresholds, including 0.8999999999999999", () => {
  const iou = linspace(0.5, 0.95, 10);
  assertEquals(iou[8], 0.8999999999999999);
  assertEquals(linspace(0, 1, 101)[35], 0.35000000000000003);
});

Deno.test("numpySum() sums in 8192-element buffers, each pairwise", () => {
  const values = Array.from({ length: 20000 }, (_, i) => 1 / (i + 1));
  assertEquals(numpySum(values) === values.reduce((a, b) => a + b, 0), false);
});

const tinyGt = {
  images: [{ id: 1, width: 100, height: 100 }, { id: 2, width: 100, height: 100 }],
  annotations: [{
    id: 1,
    image_id: 1,
    category_id: 1,
    bbox: [10, 10, 20, 20],
    area: 400,
    iscrowd: 0,
  }],
  categories: [{ id: 1, name: "a" }, { id: 2, name: "b" }],
};

Deno.test("evaluateCoco() gives 1 - eps for one perfect detection, -1 for a category without GT", () => {
  const result = evaluateCoco(tinyGt, [{
    image_id: 1,
    category_id: 1,
    bbox: [10, 10, 20, 20],
    score: 0.9,
  }]);
  // precision[t=0, r=0, k=0, area all, maxDets 1] = tp / (fp + tp + eps)
  assertEquals(result.precision[0], 0.9999999999999998);
  assertEquals(result.perCategory["2"].AP, -1);
});

Deno.test("evaluateCoco() scores 0 for an empty detection list and -1 where undefined", () => {
  const result = evaluateCoco(tinyGt, []);
  assertEquals(result.named.AP, 0);
  assertEquals(result.named.APm, -1);
});

Deno.test("evaluateCoco() rejects detections for unknown images, negative boxes and NaN scores", () => {
  assertThrows(
    () => evaluateCoco(tinyGt, [{ image_id: 9, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }]),
    InputError,
    "[0].image_id",
  );
  assertThrows(
    () => evaluateCoco(tinyGt, [{ image_id: 1, category_id: 1, bbox: [0, 0, -1, 1], score: 1 }]),
    InputError,
    "negative",
  );
  assertThrows(
    () => evaluateCoco(tinyGt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: NaN }]),
    InputError,
    "score",
  );
});

Deno.test("CocoEvaluator streams batches to the same result as one call", async () => {
  const gt = await read("coco-sparse.gt.json");
  const dt = await read("coco-sparse.dt.json");
  const evaluator = new CocoEvaluator(gt);
  evaluator.process(dt.slice(0, 10));
  evaluator.process(dt.slice(10));
  assertEquals(evaluator.evaluate().stats, evaluateCoco(gt, dt).stats);
});

Deno.test("mergeDescendingRuns() equals a stable sort by descending score (ties by index)", () => {
  let state = 7;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let trial = 0; trial < 50; trial++) {
    const runs = 1 + Math.floor(random() * 9);
    const starts = [0];
    const scores: number[] = [];
    for (let r = 0; r < runs; r++) {
      const run = Array.from({ length: Math.floor(random() * 6) }, () => Math.round(random() * 4))
        .sort((a, b) => b - a);
      scores.push(...run);
      starts.push(scores.length);
    }
    const expected = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
    const order = mergeDescendingRuns(Float64Array.from(scores), Int32Array.from(starts), runs);
    assertEquals([...order], expected);
  }
});
