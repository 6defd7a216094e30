import { makeTestDir } from "../temp_dir.ts";
import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../assert.ts";
import { checkImageFiles, loadCocoJson, validateCoco } from "../../datasets/coco_json.ts";
import { InputError } from "../../core/errors.ts";
import { runCli } from "../cli_helpers.ts";

const good = {
  images: [{ id: 1, file_name: "a.png", width: 10, height: 10 }],
  annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 2, 2] }],
  categories: [{ id: 0, name: "background" }, { id: 1, name: "fish" }],
};

Deno.test("loadCocoJson() names the file, line and column of truncated JSON", async () => {
  const dir = await makeTestDir();
  await Deno.writeTextFile(`${dir}/t.json`, '{"images": [\n{"id": 1,');
  const error = await assertRejects(() => loadCocoJson(`${dir}/t.json`), InputError);
  assertStringIncludes(error.message, `${dir}/t.json: not valid JSON`);
  assertStringIncludes(error.message, "line 2");
});

Deno.test("validateCoco() rejects an annotation pointing to a missing image", () => {
  const data = { ...good, annotations: [{ ...good.annotations[0], image_id: 9 }] };
  assertThrows(
    () => validateCoco(data, "gt.json"),
    InputError,
    "gt.json: annotations[0].image_id: points to an image that is not in 'images' (got 9)",
  );
});

Deno.test("validateCoco() rejects a category id not in categories", () => {
  const data = { ...good, annotations: [{ ...good.annotations[0], category_id: 7 }] };
  assertThrows(
    () => validateCoco(data, "gt.json"),
    InputError,
    "annotations[0].category_id: category_id is not in 'categories' (got 7)",
  );
});

Deno.test("validateCoco() rejects zero-size boxes", () => {
  const data = { ...good, annotations: [{ ...good.annotations[0], bbox: [1, 1, 0, 2] }] };
  assertThrows(
    () => validateCoco(data, "gt.json"),
    InputError,
    "annotations[0].bbox: bbox width and height must be positive",
  );
});

Deno.test("validateCoco() removes Roboflow's background category when asked", () => {
  const dataset = validateCoco(good, "gt.json", { removeBackground: true });
  assertEquals(dataset.categories.map((c) => c.id), [1]);
  assertEquals(dataset.removedBackground, true);
});

Deno.test("checkImageFiles() reports every missing image at once", async () => {
  const dataset = validateCoco({
    ...good,
    images: [...good.images, { id: 2, file_name: "b.png", width: 5, height: 5 }],
  }, "gt.json");
  const error = await assertRejects(
    async () => checkImageFiles(dataset, await makeTestDir()),
    InputError,
  );
  assertStringIncludes(error.message, "2 image file(s) missing");
  assertStringIncludes(error.message, "a.png, b.png");
});

Deno.test("a wrong data root is a clear usage error from bench, never a stack trace", async () => {
  const result = await runCli(["bench", "odinw", "--model", "x", "--data", "/nonexistent/root"]);
  assertStringIncludes(result.stderr, "no odinw data under /nonexistent/root (from --data)");
  if (result.stderr.includes("    at ")) throw new Error(`stack trace printed: ${result.stderr}`);
});
