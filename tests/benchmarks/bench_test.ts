/**
 * The benchmark runner as a user drives it: the demo end to end, a killed run resumed to the
 * same result, shards merged to the same result, and bad input refused before inference.
 */
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { ROOT, runCli } from "../cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { readRunRecord } from "../../benchmarks/run_record.ts";

const cliPath = fileURLToPath(new URL("cli/main.ts", ROOT));

async function detectionsOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of Deno.readDir(join(dir, "detections"))) {
    if (entry.name.endsWith(".jsonl")) {
      out[entry.name] = await Deno.readTextFile(join(dir, "detections", entry.name));
    }
  }
  return out;
}

const reference = await makeTestDir({ prefix: "bench-ref-" });

Deno.test("bench odinw --demo runs the whole pipeline and writes a valid run record", async () => {
  const result = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--out",
    reference,
    "--json",
    "--no-report",
    "--reference",
    "glip-t",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout);
  assertEquals(Object.keys(printed[0].tasks), ["DemoShapes", "DemoColors"]);
  const record = await readRunRecord(join(reference, "run.json"));
  assertEquals(record.model.demo, true);
  assertEquals(record.comparison?.reference, "glip-t", "--reference is recorded for the report");
  assertEquals(record.tasks.length, 2);
  assert(record.tasks.every((t) => t.result && t.result.headline >= 0 && t.prompts.length === 1));
  assertEquals(record.invocations.image, 16);
  assertEquals(record.invocations.text, 2);
  const stored = Object.values(await detectionsOf(reference)).join("");
  assert(
    stored.includes("[["),
    "the demo model emits detections, so the comparisons below are not vacuous",
  );
});

Deno.test("a run killed mid-way resumes to identical detections and results", async () => {
  const dir = await makeTestDir({ prefix: "bench-kill-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      cliPath,
      "bench",
      "odinw",
      "--demo",
      "--out",
      dir,
      "--no-report",
    ],
    cwd: fileURLToPath(ROOT),
    stdout: "null",
    stderr: "null",
  }).spawn();
  // wait until some detections are on disk, then kill -9
  for (let i = 0; i < 400; i++) {
    await new Promise((r) => setTimeout(r, 25));
    try {
      const text = await Deno.readTextFile(join(dir, "detections", "DemoShapes.jsonl"));
      if (text.split("\n").length > 3) break;
    } catch {
      // not yet
    }
  }
  child.kill("SIGKILL");
  await child.status;
  const partial = await Deno.readTextFile(join(dir, "detections", "DemoShapes.jsonl"));
  assert(partial.split("\n").length - 1 < 8, "the run was killed before finishing the first task");
  const again = await runCli(["bench", "odinw", "--demo", "--out", dir, "--no-report"]);
  assertEquals(again.code, 1, "without --resume the earlier detections are protected");
  assertStringIncludes(again.stderr, "pass --resume");
  const resumed = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--out",
    dir,
    "--resume",
    "--no-report",
  ]);
  assertEquals(resumed.code, 0, resumed.stderr);
  assertEquals(await detectionsOf(dir), await detectionsOf(reference));
  const a = await readRunRecord(join(dir, "run.json"));
  const b = await readRunRecord(join(reference, "run.json"));
  assertEquals(a.tasks.map((t) => t.result), b.tasks.map((t) => t.result));
});

Deno.test("three shards merged equal one unsharded run", async () => {
  const dirs = [];
  for (const index of [1, 2, 3]) {
    const dir = await makeTestDir({ prefix: `bench-shard${index}-` });
    const result = await runCli([
      "bench",
      "odinw",
      "--demo",
      "--shard",
      `${index}/3`,
      "--out",
      dir,
      "--no-report",
    ]);
    assertEquals(result.code, 0, result.stderr);
    dirs.push(dir);
  }
  const merged = await makeTestDir({ prefix: "bench-merged-" });
  const result = await runCli(["bench", "merge", ...dirs, "--out", merged, "--no-report"]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(await detectionsOf(merged), await detectionsOf(reference));
  const a = await readRunRecord(join(merged, "run.json"));
  const b = await readRunRecord(join(reference, "run.json"));
  assertEquals(a.tasks.map((t) => t.result), b.tasks.map((t) => t.result));
  const missing = await runCli([
    "bench",
    "merge",
    dirs[0],
    dirs[1],
    "--out",
    await makeTestDir(),
    "--no-report",
  ]);
  assertEquals(missing.code, 2);
  assertStringIncludes(missing.stderr, "all of 1..3 are needed");
});

Deno.test("bench refuses bad input before inference with exit code 2", async () => {
  const unknownSuite = await runCli(["bench", "odinww"]);
  assertEquals(unknownSuite.code, 2);
  assertStringIncludes(unknownSuite.stderr, "Did you mean 'odinw'?");
  const unknownTask = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--tasks",
    "NoSuchTask",
    "--out",
    await makeTestDir(),
  ]);
  assertEquals(unknownTask.code, 2);
  const missingSplit = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--split",
    "minival",
    "--out",
    await makeTestDir(),
  ]);
  assertEquals(missingSplit.code, 2);
  assertStringIncludes(missingSplit.stderr, "has no 'minival' split");
  const noData = await runCli([
    "bench",
    "odinw",
    "--model",
    "/nonexistent/bundle",
    "--data",
    await makeTestDir(),
  ]);
  assertEquals(noData.code, 2);
  assertStringIncludes(noData.stderr, "no odinw data under");
  const badEngine = await runCli(["bench", "odinw", "--demo", "--engine", "onx"]);
  assertEquals(badEngine.code, 2);
  assertStringIncludes(badEngine.stderr, "Did you mean 'onnx'?");
  const badReference = await runCli(["bench", "odinw", "--demo", "--reference", "glip-tt"]);
  assertEquals(badReference.code, 2);
  assertStringIncludes(badReference.stderr, "Did you mean");
  const protocol = await runCli(["bench", "odinw", "--demo", "--protocol", "few-shot"]);
  assertEquals(protocol.code, 2);
  assertStringIncludes(protocol.stderr, "--checkpoints");
});
