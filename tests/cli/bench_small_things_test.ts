/**
 * What `bench` refuses or says up front: demo runs take no choices the demo does not have
 * (a task set; prompt variants other than raw and engineered, which the demo has),
 * `--shots 0` points at the zero-shot protocol, a partial ODinW download names the missing task
 * folders and `--tasks`, and `bench flickr30k` says its numbers are R@1.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { makeTestDir } from "../temp_dir.ts";
import { odinwTask, odinwTasks } from "../../datasets/odinw.ts";

Deno.test("demo runs refuse --set and misspelt --prompt values instead of recording them", async () => {
  const out = await makeTestDir({ prefix: "demo-choices-" });
  const set = await runCli(["bench", "odinw", "--demo", "--set", "odinw35", "--out", out]);
  assertEquals(set.code, 2, set.stderr);
  assertStringIncludes(set.stderr, "the demo has one task set");
  const prompt = await runCli(["bench", "odinw", "--demo", "--prompt", "enginered", "--out", out]);
  assertEquals(prompt.code, 2, prompt.stderr);
  assertStringIncludes(
    prompt.stderr,
    "Unknown prompt variant 'enginered'. Did you mean 'engineered'?",
  );
  // the demo also runs when no data is present: refused the same way
  const implicit = await runCli(["bench", "odinw", "--set", "odinw36", "--out", out], {
    env: { GLIP_BENCH_DATA: await makeTestDir({ prefix: "demo-nodata-" }) },
  });
  assertEquals(implicit.code, 2, implicit.stderr);
  assertStringIncludes(implicit.stderr, "the demo has one task set");
  assertEquals([...Deno.readDirSync(out)], [], "nothing was run or recorded");
});

Deno.test("--shots 0 fails at once with a pointer to --protocol zero-shot", async () => {
  const result = await runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "prompt-tuning",
    "--shots",
    "1,0",
    "--out",
    await makeTestDir({ prefix: "shots0-" }),
  ]);
  assertEquals(result.code, 2, result.stderr);
  assertStringIncludes(result.stderr, "--shots 0 is the zero-shot protocol");
  assertStringIncludes(result.stderr, "--protocol zero-shot");
  assert(!result.stderr.includes("DemoShapes"), "no task ran before the refusal");
});

Deno.test("a missing ODinW task folder is named, with --tasks for the tasks present", async () => {
  const data = await makeTestDir({ prefix: "odinw-partial-" });
  await Deno.mkdir(join(data, "odinw"));
  const args = ["bench", "odinw", "--data", data, "--model", join(data, "no-model")];
  const none = await runCli(args);
  assertEquals(none.code, 2, none.stderr);
  assertStringIncludes(none.stderr, `lacks ${odinwTasks("odinw13").length} task(s)`);
  const names = odinwTasks("odinw13").map((t) => t.name);
  assertStringIncludes(none.stderr, `'deno task data odinw --tasks ${names.join(",")}'`);
  // one task downloaded: it is offered with --tasks
  const aquarium = odinwTask("Aquarium", "odinw13");
  const annotations = join(data, aquarium.splits[aquarium.zeroShotSplit].annFile);
  await Deno.mkdir(join(annotations, ".."), { recursive: true });
  await Deno.writeTextFile(annotations, "{}");
  const one = await runCli(args);
  assertEquals(one.code, 2, one.stderr);
  assertStringIncludes(
    one.stderr,
    "Run the tasks you have with --tasks Aquarium, or get the others",
  );
  const others = names.filter((name) => name !== "Aquarium").join(",");
  assertStringIncludes(one.stderr, `'deno task data odinw --tasks ${others}'`);
});

Deno.test("bench flickr30k says on stdout that its numbers are R@1", async () => {
  const result = await runCli([
    "bench",
    "flickr30k",
    "--demo",
    "--limit",
    "1",
    "--no-report",
    "--quiet",
    "--out",
    await makeTestDir({ prefix: "flickr-r1-" }),
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stdout, "task (R@1, %)");
  assertStringIncludes(result.stdout, "Average R@1");
  assertStringIncludes(result.stdout, "numbers are R@1");
});
