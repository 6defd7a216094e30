import { makeTestDir } from "../temp_dir.ts";
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";

Deno.test("an unknown command exits 2 with a did-you-mean", async () => {
  const result = await runCli(["lsit", "engines"]);
  assertEquals(result.code, 2);
  assertStringIncludes(result.stderr, "Unknown command 'lsit'. Did you mean 'list'?");
});

Deno.test("list protocols prints GLIP's four protocols", async () => {
  const result = await runCli(["list", "protocols", "--json"]);
  assertEquals(result.code, 0, result.stderr);
  const names = JSON.parse(result.stdout).map((row: { name: string }) => row.name);
  assertEquals(names, ["few-shot", "linear-probe", "prompt-tuning", "zero-shot"]);
});

Deno.test("an unknown flag is a usage error that suggests the right one", async () => {
  const result = await runCli(["list", "engines", "--jsn"]);
  assertEquals(result.code, 2);
  assertStringIncludes(result.stderr, "Did you mean '--json'?");
});

Deno.test("--config merges under the flags and rejects unknown keys", async () => {
  const dir = await makeTestDir();
  await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ jsno: true }));
  const bad = await runCli(["list", "protocols", "--config", `${dir}/bad.json`]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "Unknown config key 'jsno'. Did you mean 'json'?");
  await Deno.writeTextFile(`${dir}/good.json`, JSON.stringify({ json: true }));
  const good = await runCli(["list", "protocols", "--config", `${dir}/good.json`]);
  assertEquals(good.code, 0, good.stderr);
  assertEquals(
    JSON.parse(good.stdout).length,
    4,
    "zero-shot, few-shot, prompt-tuning, linear-probe",
  );
});

Deno.test("a plugin from a file path registers a suite that list shows", async () => {
  const result = await runCli([
    "list",
    "suites",
    "--json",
    "--plugin",
    "tests/fixtures/plugins/example_plugin.ts",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as { name: string; origin: string }[];
  const suite = rows.find((row) => row.name === "example-hello");
  assertEquals(suite?.origin, "tests/fixtures/plugins/example_plugin.ts");
});

Deno.test("a plugin from a file path registers an engine that list engines shows as available", async () => {
  const result = await runCli([
    "list",
    "engines",
    "--json",
    "--plugin",
    "tests/fixtures/plugins/example_plugin.ts",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as { name: string; available: boolean; origin: string }[];
  const engine = rows.find((row) => row.name === "onnx-1thread");
  assertEquals(engine?.available, true);
  assertEquals(engine?.origin, "tests/fixtures/plugins/example_plugin.ts");
});

Deno.test("a plugin suite is runnable through bench", async () => {
  const result = await runCli([
    "bench",
    "example-hello",
    "--json",
    "--plugin",
    "tests/fixtures/plugins/example_plugin.ts",
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(JSON.parse(result.stdout), { hello: "world" });
});

Deno.test("list datasets --check reports each dataset's files under the data root", async () => {
  const root = await makeTestDir();
  await Deno.mkdir(`${root}/coco/annotations`, { recursive: true });
  await Deno.writeTextFile(`${root}/coco/annotations/instances_val2017.json`, "{}");
  const result = await runCli(["list", "datasets", "--check", "--data", root, "--json"]);
  assertEquals(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  const coco = report.datasets.find((d: { name: string }) => d.name === "coco");
  assertEquals(coco.lines[0].startsWith("present  coco/annotations/instances_val2017.json"), true);
  assertEquals(coco.present, false);
});
