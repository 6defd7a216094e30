import { join } from "node:path";
import { assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { InputError } from "../../core/errors.ts";
import { evaluateCoco, undeclaredCategories } from "../../benchmarks/metrics/coco.ts";
import { checkLvisGroundTruth } from "../../benchmarks/metrics/lvis.ts";

/** Two images, one category; one true positive and one false positive. */
const coco = {
  images: [{ id: 1, width: 100, height: 100 }, { id: 2, width: 100, height: 100 }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 },
  ],
  categories: [{ id: 1, name: "thing", frequency: "f" as const }],
};
const detections = [
  { image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], score: 0.9 },
  { image_id: 2, category_id: 1, bbox: [10, 10, 20, 20], score: 0.95 },
];

async function withFiles(
  files: Record<string, unknown>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "eval-semantics-" });
  try {
    for (const [name, value] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), JSON.stringify(value));
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("eval lvis refuses a COCO file (no LVIS image fields) with exit 1 naming them", async () => {
  await withFiles({ "gt.json": coco, "dt.json": detections }, async (dir) => {
    const result = await runCli([
      "eval",
      "lvis",
      "--gt",
      join(dir, "gt.json"),
      "--dt",
      join(dir, "dt.json"),
    ]);
    assertEquals(result.code, 1, result.stderr);
    assertStringIncludes(result.stderr, "images[0].neg_category_ids: not LVIS ground truth");
    assertStringIncludes(result.stderr, "2 of 2 images lack neg_category_ids");
    assertEquals(result.stdout, "");
  });
});

Deno.test("checkLvisGroundTruth() names the first image lacking not_exhaustive_category_ids", () => {
  const gt = {
    ...coco,
    images: [
      { id: 1, neg_category_ids: [], not_exhaustive_category_ids: [] },
      { id: 2, neg_category_ids: [] },
    ],
  };
  assertThrows(
    () => checkLvisGroundTruth(gt, "gt.json"),
    InputError,
    "gt.json: images[1].not_exhaustive_category_ids: not LVIS ground truth: 1 of 2 images",
  );
});

Deno.test("eval coco warns once about undeclared categories and scores as pycocotools (ignoring them)", async () => {
  const extra = [
    { id: 2, image_id: 1, category_id: 7, bbox: [0, 0, 5, 5], area: 25, iscrowd: 0 },
    { id: 3, image_id: 2, category_id: 9, bbox: [0, 0, 5, 5], area: 25, iscrowd: 0 },
    { id: 4, image_id: 2, category_id: 7, bbox: [50, 50, 5, 5], area: 25, iscrowd: 0 },
  ];
  const withUndeclared = { ...coco, annotations: [...coco.annotations, ...extra] };
  assertEquals(undeclaredCategories(withUndeclared), { categoryIds: [7, 9], annotations: 3 });
  assertEquals(undeclaredCategories(coco), undefined);
  await withFiles({ "gt.json": withUndeclared, "dt.json": detections }, async (dir) => {
    const result = await runCli([
      "eval",
      "coco",
      "--gt",
      join(dir, "gt.json"),
      "--dt",
      join(dir, "dt.json"),
      "--json",
    ]);
    assertEquals(result.code, 0, result.stderr);
    const warnings = result.stderr.split("\n").filter((line) => line.includes("does not declare"));
    assertEquals(warnings.length, 1, result.stderr);
    assertStringIncludes(
      warnings[0],
      "3 annotation(s) use categories the file does not declare (ids 7, 9)",
    );
    // pycocotools never sees the undeclared annotations: the same stats as without them
    assertEquals(JSON.parse(result.stdout).stats, evaluateCoco(coco, detections).stats);
    // AP50 by hand: the false positive (0.95) ranks above the true positive, so precision is 0.5
    assertEquals(JSON.parse(result.stdout).stats[1], 0.5);
  });
});
