/**
 * `bench merge` refuses what would not give the unsharded run: a folder that is no shard, shards
 * of different counts or of another run, a shard given twice, and an --out that is a shard's own
 * folder (exit 2, naming the folder). Merging what is right is in bench_test.ts and
 * tests/examples/cluster_examples_test.ts.
 */
import { join } from "node:path";
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { makeTestDir } from "../temp_dir.ts";

const base = await makeTestDir({ prefix: "merge-refusals-" });

/** Runs the demo's DemoShapes (first 2 images of each shard) into `name`; returns the folder. */
async function run(name: string, extra: string[]): Promise<string> {
  const dir = join(base, name);
  const result = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--tasks",
    "DemoShapes",
    "--no-report",
    "--quiet",
    "--out",
    dir,
    ...extra,
  ]);
  if (result.code !== 0) throw new Error(`${name} failed:\n${result.stderr}`);
  return dir;
}

const half1 = await run("half1", ["--shard", "1/2", "--limit", "2"]);
const half2 = await run("half2", ["--shard", "2/2", "--limit", "2"]);
const third2 = await run("third2", ["--shard", "2/3", "--limit", "2"]);
const otherLimit = await run("other", ["--shard", "2/2", "--limit", "3"]);
const whole = await run("whole", ["--limit", "2"]);

async function refused(dirs: string[], message: string, out = join(base, "merged")) {
  const result = await runCli(["bench", "merge", ...dirs, "--out", out, "--no-report"]);
  assertEquals(result.code, 2, result.stderr);
  assertStringIncludes(result.stderr, message);
  return result.stderr;
}

Deno.test("bench merge refuses a run folder that is not a shard", async () => {
  await refused([half1, whole], `${whole} is not a shard run`);
});

Deno.test("bench merge refuses shards of different counts", async () => {
  await refused([half1, third2], `${third2} is shard 2/3, the others are of 2`);
});

Deno.test("bench merge refuses a shard of another run, naming the difference", async () => {
  const stderr = await refused(
    [half1, otherLimit],
    `${otherLimit} is a shard of another run than ${half1}`,
  );
  assertStringIncludes(stderr, "limit: 2 -> 3");
});

Deno.test("bench merge refuses a shard given twice", async () => {
  await refused([half1, half1], "shards 1, 1 of 2 given; all of 1..2 are needed exactly once");
});

Deno.test("bench merge refuses to write into one of the shard folders", async () => {
  await refused([half1, half2], "is one of the shard folders", half2);
});

Deno.test("bench merge of the right shards succeeds (the refusals above are not vacuous)", async () => {
  const result = await runCli([
    "bench",
    "merge",
    half1,
    half2,
    "--out",
    join(base, "ok"),
    "--no-report",
  ]);
  assertEquals(result.code, 0, result.stderr);
});
