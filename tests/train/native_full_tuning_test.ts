/**
 * `bench --protocol few-shot --trainer native` on the demo: GLIP's full-model tuning per cell
 * (backbones, fusion and head; Swin's patch embedding and first stage frozen), model selection on
 * val, the best model saved as a bundle the suite evaluates on test plus a safetensors file of
 * every tuned tensor, and an interrupted cell resuming to the same weights.
 */
import { makeTestDir } from "../temp_dir.ts";
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { benchNativeCell } from "./native_cell.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { loadBundle } from "../../models/bundle.ts";

const bench = (out: string, epochs: number, extra: string[] = []) =>
  benchNativeCell("few-shot", out, epochs, extra);

Deno.test("native full-model few-shot tuning: val AP rises, the best model is a bundle, resume is exact", async () => {
  const straight = await makeTestDir({ prefix: "ft-straight-" });
  const result = await bench(straight, 2);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stderr, "full-model tuning on");
  const record = await readRunRecord(join(straight, "run.json"));
  const cell = record.tasks[0].cells![0];
  const zeroShot = cell.history![0].valAP!;
  assert(cell.valAP! > zeroShot, `best val AP ${cell.valAP} > zero-shot ${zeroShot}`);
  const cellDir = join(straight, "trainer", "DemoColors", "3_3");
  assertEquals(cell.checkpoint?.path, join(cellDir, "model_best"));
  const tuned = await loadBundle(join(cellDir, "model_best"));
  assertEquals(tuned.manifest.source.kind, "tuned");
  assertEquals(tuned.manifest.source.file, "model_best.safetensors");
  // the test split ran the tuned model, not the base one
  assertEquals(cell.checkpoint?.sha256, tuned.manifest.source.sha256);
  assert(
    cell.test.headline !== record.tasks[0].result!.headline,
    `test AP ${cell.test.headline} differs from the base model's`,
  );
  assert(
    record.settings.deliberateDifferences.some((d) =>
      d.includes("Fully tuned by the suite's native trainer")
    ),
  );
  const bytes = await Deno.readFile(join(cellDir, "model_best.safetensors"));

  // interrupted after epoch 1 (a finished shorter run, its done marker removed), then resumed
  const resumed = await makeTestDir({ prefix: "ft-resumed-" });
  assertEquals((await bench(resumed, 1)).code, 0);
  const resumedDir = join(resumed, "trainer", "DemoColors", "3_3");
  await Deno.remove(join(resumedDir, "done.json"));
  const again = await bench(resumed, 2, ["--resume"]);
  assertEquals(again.code, 0, again.stderr);
  assertStringIncludes(again.stderr, "resuming after epoch 1");
  assertEquals(await Deno.readFile(join(resumedDir, "model_best.safetensors")), bytes);
});
