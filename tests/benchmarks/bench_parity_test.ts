/**
 * `bench --check-parity`: after the run, its engine is checked against onnxruntime-node CPU on
 * the run's bundle at full size and the check is recorded as `engineParity`, which the report
 * renders; a failed check keeps the results, exits 1 and flags the report. The flag is no part
 * of the fingerprint (a resume may add or drop it), and merged shards keep every check.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { makeTestDir } from "../temp_dir.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";

const base = await makeTestDir({ prefix: "bench-parity-" });

/** `bench odinw --demo` on DemoShapes, first two images, into `base/name`. */
/** `bench merge` of the shard folders named under the test's base folder into `out`. */
function merge(shards: string[], out: string) {
  return runCli([
    "bench",
    "merge",
    ...shards.map((name) => join(base, name)),
    "--out",
    out,
    "--no-report",
  ]);
}

function bench(name: string, extra: string[]) {
  return runCli([
    "bench",
    "odinw",
    "--demo",
    "--tasks",
    "DemoShapes",
    "--limit",
    "2",
    "--quiet",
    "--out",
    join(base, name),
    ...extra,
  ]);
}

Deno.test("bench --check-parity records wasm's full-size parity, and the report shows it", async () => {
  const result = await bench("wasm", ["--engine", "wasm", "--check-parity"]);
  assertEquals(result.code, 0, result.stderr);
  const wasm = await readRunRecord(join(base, "wasm", "run.json"));
  const [check] = wasm.engineParity!;
  // the default size is the bundle's largest input: the nano demo's 160/256/32
  assertEquals([check.role, check.engine, check.dtype, check.size], [
    "checked",
    "wasm",
    "fp32",
    { height: 160, width: 256 },
  ]);
  assertEquals([check.ok, check.failures, check.outputs.length], [true, [], 21]);
  assertEquals(check.reference.libraries["onnxruntime-node"], "1.30.0");
  assertEquals(check.libraries["onnxruntime-web"], "1.30.0");
  assert(check.detections!.top > 0 && check.detections!.matched === check.detections!.top);
  const page = await Deno.readTextFile(join(base, "wasm", "report", "run-1.html"));
  assertStringIncludes(page, "wasm (wasm) vs onnxruntime-node CPU (fp32)</td><td>160x256</td>");
  assertStringIncludes(page, "✓ pass");
});

Deno.test("a failed parity check keeps the run's results, exits 1, and the report flags the run", async () => {
  const result = await bench("perturbed", [
    "--engine",
    "onnx-perturbed",
    "--plugin",
    "tests/engines/fixtures/perturbed_engine_plugin.ts",
    "--check-parity",
    "--parity-size",
    "128x160",
  ]);
  assertEquals(result.code, 1, result.stderr);
  assertStringIncludes(result.stderr, "engine parity FAILED for onnx-perturbed");
  assertStringIncludes(result.stderr, "head dot_product_logits_l0");
  assertStringIncludes(result.stdout, "DemoShapes");
  const record = await readRunRecord(join(base, "perturbed", "run.json"));
  assertEquals(record.tasks[0].result!.headline >= 0, true);
  const [check] = record.engineParity!;
  assertEquals([check.ok, check.size], [false, { height: 128, width: 160 }]);
  const logits = check.outputs.find((o) => o.output === "dot_product_logits_l0")!;
  assertEquals([logits.ok, logits.outOfTolerance], [false, 1]);
  const page = await Deno.readTextFile(join(base, "perturbed", "report", "run-1.html"));
  assertStringIncludes(page, "<strong>Engine parity failed</strong>");
  assertStringIncludes(page, '<td class="flag">✗ FAIL</td>');
});

Deno.test("--check-parity is outside the fingerprint: a resume adds a check (onnx CPU: the reference), a later resume without it keeps it", async () => {
  const plain = await bench("resume", ["--engine", "onnx", "--no-report"]);
  assertEquals(plain.code, 0, plain.stderr);
  const record = join(base, "resume", "run.json");
  const before = await readRunRecord(record);
  assertEquals(before.engineParity, undefined);
  const checked = await bench("resume", [
    "--engine",
    "onnx",
    "--no-report",
    "--resume",
    "--check-parity",
  ]);
  assertEquals(checked.code, 0, checked.stderr);
  assertStringIncludes(checked.stderr, "its run record gained a parity check");
  const after = await readRunRecord(record);
  assertEquals(after.engineParity!.map((c) => c.role), ["reference"]);
  // the check is not the run's: its timings and results stay as they were
  assertEquals([after.timings, after.tasks], [before.timings, before.tasks]);
  const again = await bench("resume", ["--engine", "onnx", "--no-report", "--resume"]);
  assertEquals(again.code, 0, again.stderr);
  assertStringIncludes(again.stderr, "nothing left to run");
  assertEquals((await readRunRecord(record)).engineParity!.length, 1);
});

Deno.test("bench merge keeps each shard's parity check, naming its shard", async () => {
  for (const i of [1, 2]) {
    const shard = await bench(`shard${i}`, [
      "--engine",
      "onnx",
      "--shard",
      `${i}/2`,
      "--check-parity",
      "--no-report",
    ]);
    assertEquals(shard.code, 0, shard.stderr);
  }
  const out = join(base, "merged");
  const merged = await merge(["shard1", "shard2"], out);
  assertEquals(merged.code, 0, merged.stderr);
  const record = await readRunRecord(join(out, "run.json"));
  assertEquals(record.engineParity!.map((c) => [c.role, c.shard]), [
    ["reference", "1/2"],
    ["reference", "2/2"],
  ]);
});

Deno.test("bench merge of shards whose checks failed exits 1, the merged record saying so", async () => {
  const perturbed = [
    "--engine",
    "onnx-perturbed",
    "--plugin",
    "tests/engines/fixtures/perturbed_engine_plugin.ts",
    "--check-parity",
    "--parity-size",
    "64x96",
    "--no-report",
  ];
  for (const i of [1, 2]) {
    const shard = await bench(`bad${i}`, [...perturbed, "--shard", `${i}/2`]);
    assertEquals(shard.code, 1, shard.stderr);
  }
  const out = join(base, "bad-merged");
  const merged = await merge(["bad1", "bad2"], out);
  assertEquals(merged.code, 1, merged.stderr);
  assertStringIncludes(merged.stderr, "engine parity FAILED for onnx-perturbed");
  const record = await readRunRecord(join(out, "run.json"));
  assertEquals(record.engineParity!.map((c) => [c.ok, c.shard]), [[false, "1/2"], [false, "2/2"]]);
});

Deno.test("--check-parity usage errors exit 2 before any inference, saying what is wrong", async () => {
  const cases: [string[], string][] = [
    [["--parity-size", "128x160"], "--parity-size applies to --check-parity"],
    [["--check-parity", "--parity-size", "128by160"], "bench: --parity-size must be HxW"],
    [
      ["--check-parity", "--protocol", "prompt-tuning", "--trainer", "native"],
      "check the base model with --protocol zero-shot --check-parity",
    ],
  ];
  for (const [args, message] of cases) {
    const result = await bench("usage", args);
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assertStringIncludes(result.stderr, message);
  }
});
