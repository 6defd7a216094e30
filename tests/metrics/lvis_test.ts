import { assertEquals } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import {
  evaluateLvis,
  fixedApDetections,
  limitDetectionsPerImage,
} from "../../benchmarks/metrics/lvis.ts";

const dir = new URL("oracles/lvis/", FIXTURES);
const read = async (file: string) => JSON.parse(await Deno.readTextFile(new URL(file, dir)));

for (const [name, maxDets] of [["lvis-a", 300], ["lvis-a-nocap", -1]] as const) {
  Deno.test(`evaluateLvis() reproduces lvis-api bit for bit on ${name} (max dets ${maxDets})`, async () => {
    const expected = await read(`${name}.expected.json`);
    const result = evaluateLvis(await read("lvis-a.gt.json"), await read("lvis-a.dt.json"), {
      maxDets,
    });
    assertEquals(result.results, expected.results);
    for (
      const [catId, values] of Object.entries(
        expected.perCategory as Record<string, { AP: number; AP50: number }>,
      )
    ) {
      assertEquals(result.perCategory[catId], values, catId);
    }
  });
}

Deno.test("limitDetectionsPerImage() keeps the top scores per image across categories, ties in file order", () => {
  const dets = [0.5, 0.9, 0.5, 0.7].map((score, i) => ({
    image_id: 1,
    category_id: i,
    bbox: [0, 0, 1, 1],
    score,
  }));
  assertEquals(limitDetectionsPerImage(dets, 3).map((d) => d.category_id), [1, 3, 0]);
  assertEquals(limitDetectionsPerImage(dets, -1).length, 4);
});

Deno.test("fixedApDetections() keeps the global top k per category with no per-image cap", () => {
  const dets = [0.1, 0.9, 0.5].map((score, i) => ({
    image_id: i,
    category_id: 7,
    bbox: [0, 0, 1, 1],
    score,
  }));
  assertEquals(fixedApDetections(dets, 2).map((d) => d.score), [0.9, 0.5]);
});
