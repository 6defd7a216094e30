/**
 * `bench --train-memory GB` on the demo's native prompt tuning: the budget reaches the tuner (a
 * budget just above one layer's need recomputes the larger steps by segments, and the run record
 * says the budget and each plan), the tuned prompt equals the default budget's within float32
 * rounding, a resume keeps the budget the run started with (given or default) and refuses
 * another (the budget is in the fingerprint), a budget below one layer's need fails before
 * training, and a value that is not a positive number is a usage error.
 */
import { join } from "node:path";
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import { buildTrainForward } from "../../models/train/prompt_tuning_graph.ts";
import { planSegments } from "../../models/train/recompute.ts";
import {
  glipPromptTuningSettings,
  largestTrainingLevels,
} from "../../models/train/prompt_tuner.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { readFingerprint } from "../../benchmarks/run_fingerprint.ts";
import { loadPromptOffset } from "../../benchmarks/native_trainer.ts";
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { benchNativeCell } from "./native_cell.ts";
import { runCli } from "../cli_helpers.ts";

/** The smallest budget (in GB, rounded up to 1 MB) the demo's largest prompt step fits in. */
function demoMinimumGb(): number {
  const arch = presetArchitecture("nano");
  const { minSize, maxSize } = arch.preprocess;
  const levels = largestTrainingLevels(glipPromptTuningSettings(3, minSize, maxSize));
  const forward = buildTrainForward(arch, new RandomWeights(0), levels);
  return Math.ceil(planSegments(forward, 2 ** 40).minimumBudgetBytes / 1e6) / 1e3;
}

Deno.test("--train-memory reaches the prompt tuner: segments, the same prompt within rounding, recorded, kept on resume", async () => {
  const gb = demoMinimumGb();
  const small = await makeTestDir({ prefix: "train-memory-small-" });
  const result = await benchNativeCell("prompt-tuning", small, 1, ["--train-memory", String(gb)]);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stderr, "recomputed in");
  const record = await readRunRecord(join(small, "run.json"));
  const memory = record.tasks[0].cells![0].memory!;
  assertEquals(memory.budgetBytes, gb * 1e9);
  assert(memory.plans.some((p) => p.segments > 1), JSON.stringify(memory.plans));
  assert(memory.plans.every((p) => p.plannedPeakBytes <= gb * 1e9), JSON.stringify(memory.plans));
  assert(record.settings.deliberateDifferences.some((d) => d.includes("--train-memory")));
  assertEquals((await readFingerprint(small))?.adaptation?.trainMemoryBytes, gb * 1e9);

  const plain = await makeTestDir({ prefix: "train-memory-default-" });
  assertEquals((await benchNativeCell("prompt-tuning", plain, 1)).code, 0);
  const plainMemory = (await readRunRecord(join(plain, "run.json"))).tasks[0].cells![0].memory!;
  assert(plainMemory.plans.every((p) => p.segments === 1), JSON.stringify(plainMemory.plans));
  // the default budget, resolved from the memory available at the start, is in the fingerprint
  // too, and a resume without --train-memory keeps it (the memory available now differs)
  assertEquals(
    (await readFingerprint(plain))?.adaptation?.trainMemoryBytes,
    plainMemory.budgetBytes,
  );
  const resumed = await benchNativeCell("prompt-tuning", plain, 1, ["--resume"]);
  assertEquals(resumed.code, 0, resumed.stderr);
  const cell = (dir: string) => join(dir, "trainer", "DemoColors", "3_3", "prompt.safetensors");
  const recomputed = await loadPromptOffset(cell(small), 256, 64);
  const expected = await loadPromptOffset(cell(plain), 256, 64);
  let diff = 0, scale = 0;
  for (let k = 0; k < expected.length; k++) {
    diff = Math.max(diff, Math.abs(recomputed[k] - expected[k]));
    scale = Math.max(scale, Math.abs(expected[k]));
  }
  assert(scale > 0 && diff <= 1e-5 * scale, `prompts differ by ${diff} at scale ${scale}`);

  const other = await benchNativeCell("prompt-tuning", small, 1, [
    "--resume",
    "--train-memory",
    String(gb * 2),
  ]);
  assertEquals(other.code, 2, other.stderr);
  assertStringIncludes(other.stderr, "adaptation.trainMemoryBytes");
});

Deno.test("--train-memory below one layer's need fails before training, naming the minimum", async () => {
  const out = await makeTestDir({ prefix: "train-memory-refused-" });
  const result = await benchNativeCell("prompt-tuning", out, 1, ["--train-memory", "0.1"]);
  assertEquals(result.code, 1, result.stderr);
  assertStringIncludes(result.stderr, "a memory budget of 0.09 GiB");
  assertStringIncludes(result.stderr, "needs a budget of at least");
  assertStringIncludes(result.stderr, "--train-memory");
  assert(!result.stderr.includes("epoch 1"), "no epoch ran");
});

Deno.test("--train-memory must be a positive number of GB, and applies to --trainer native only", async () => {
  const out = await makeTestDir({ prefix: "train-memory-usage-" });
  for (const value of ["0", "-2", "lots"]) {
    const result = await benchNativeCell("prompt-tuning", out, 1, ["--train-memory", value]);
    assertEquals(result.code, 2, `${value}: ${result.stderr}`);
    assertStringIncludes(result.stderr, "--train-memory must be a");
    assertStringIncludes(result.stderr, value === "lots" ? "'lots'" : value);
  }
  const elsewhere = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "prompt-tuning",
    "--checkpoints",
    "x/{task}",
    "--train-memory",
    "4",
    "--out",
    out,
  ]);
  assertEquals(elsewhere.code, 2, elsewhere.stderr);
  assertStringIncludes(elsewhere.stderr, "--train-memory applies to --trainer native only");
});
