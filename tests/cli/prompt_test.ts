import { makeTestDir } from "../temp_dir.ts";
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { FIXTURES, runCli } from "../cli_helpers.ts";

const oracles = JSON.parse(await Deno.readTextFile(new URL("oracles/text/prompts.json", FIXTURES)));

Deno.test("prompt --names-file --json prints the oracle's query, tokens, ids, spans and map", async () => {
  const coco = oracles.find((o: { suite: string }) => o.suite === "coco");
  const dir = await makeTestDir();
  await Deno.writeTextFile(`${dir}/names.json`, JSON.stringify(coco.names));
  const result = await runCli(["prompt", "--names-file", `${dir}/names.json`, "--json"]);
  assertEquals(result.code, 0, result.stderr);
  const [chunk] = JSON.parse(result.stdout);
  for (
    const key of [
      "query",
      "tokensPositive",
      "tokens",
      "inputIds",
      "charToToken",
      "positiveMapLabelToToken",
    ]
  ) {
    assertEquals(chunk[key], coco[key], key);
  }
});

Deno.test("prompt odinw --task Aquarium --prompt engineered matches the odinw_35 oracle", async () => {
  const oracle = oracles.find((o: { suite: string }) => o.suite === "odinw35/Aquarium");
  const result = await runCli([
    "prompt",
    "odinw",
    "--task",
    "Aquarium",
    "--prompt",
    "engineered",
    "--json",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const [chunk] = JSON.parse(result.stdout);
  assertEquals(chunk.query, oracle.query);
  assertEquals(chunk.positiveMapLabelToToken, oracle.positiveMapLabelToToken);
});

Deno.test("prompt --chunk splits long name lists, one prompt per chunk", async () => {
  const dir = await makeTestDir();
  await Deno.writeTextFile(
    `${dir}/names.json`,
    JSON.stringify(Array.from({ length: 90 }, (_, i) => `thing_${i}`)),
  );
  const result = await runCli([
    "prompt",
    "--names-file",
    `${dir}/names.json`,
    "--chunk",
    "40",
    "--json",
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(JSON.parse(result.stdout).length, 3);
});

Deno.test("prompt rejects a names file that is not an array of strings", async () => {
  const dir = await makeTestDir();
  await Deno.writeTextFile(`${dir}/names.json`, JSON.stringify(["ok", 3]));
  const result = await runCli(["prompt", "--names-file", `${dir}/names.json`]);
  assertEquals(result.code, 1);
  assertStringIncludes(result.stderr, "names.json: [1]: every name must be a string (got 3)");
});
