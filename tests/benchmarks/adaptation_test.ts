/**
 * The few-shot protocol with checkpoints adapted elsewhere: every (task, shots, seed) checkpoint
 * evaluated on the test split, the 0-shot point from the base model, mean ± std over seeds.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";

Deno.test("bench --protocol few-shot --checkpoints evaluates every (task, shots, seed) cell and summarizes over seeds", async () => {
  const variants = [await nanoBundle(1), await nanoBundle(2)];
  const checkpoints = await Deno.makeTempDir({ prefix: "ckpts-" });
  for (const task of ["DemoShapes", "DemoColors"]) {
    for (const [i, cell] of ["1_3", "1_30", "3_3", "3_30"].entries()) {
      await Deno.mkdir(join(checkpoints, task), { recursive: true });
      await Deno.symlink(variants[i % 2].dir, join(checkpoints, task, cell));
    }
  }
  const out = await Deno.makeTempDir();
  const result = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "few-shot",
    "--shots",
    "1,3",
    "--seeds",
    "3,30",
    "--checkpoints",
    join(checkpoints, "{task}", "{shots}_{seed}"),
    "--limit",
    "2",
    "--out",
    out,
    "--json",
    "--no-report",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const record = await readRunRecord(join(out, "run.json"));
  assertEquals(record.protocol, "few-shot");
  assertEquals(Object.keys(record.summary.byShots ?? {}).sort(), ["1", "3"]);
  for (const task of record.tasks) {
    assertEquals(task.split, "test");
    assertEquals(task.cells?.map((c) => `${c.shots}_${c.seed}`), ["1_3", "1_30", "3_3", "3_30"]);
    assert(task.result !== undefined, "the 0-shot point comes from the base model");
  }
  const printed = JSON.parse(result.stdout);
  assertEquals(Object.keys(printed[0].tasks), ["DemoShapes", "DemoColors"]);
});

Deno.test("bench --protocol few-shot refuses a missing checkpoint before any inference", async () => {
  const result = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "few-shot",
    "--shots",
    "1",
    "--seeds",
    "3",
    "--checkpoints",
    "/nonexistent/{task}/{shots}_{seed}.pth",
    "--out",
    await Deno.makeTempDir(),
  ]);
  assertEquals(result.code, 2);
  assertStringIncludes(result.stderr, "checkpoint(s) missing");
});
