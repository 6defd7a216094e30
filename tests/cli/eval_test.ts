import { makeTestDir } from "../temp_dir.ts";
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { FIXTURES, runCli } from "../cli_helpers.ts";
import { fileURLToPath } from "node:url";

const oracles = fileURLToPath(new URL("oracles/", FIXTURES));

Deno.test("eval coco --json prints the oracle's stats and named numbers", async () => {
  const result = await runCli([
    "eval",
    "coco",
    "--gt",
    `${oracles}coco/coco-sparse.gt.json`,
    "--dt",
    `${oracles}coco/coco-sparse.dt.json`,
    "--json",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const expected = JSON.parse(await Deno.readTextFile(`${oracles}coco/coco-sparse.expected.json`));
  const printed = JSON.parse(result.stdout);
  assertEquals(printed.stats, expected.stats);
  assertEquals(printed.named, expected.named);
});

Deno.test("eval coco prints pycocotools' 12-line summary", async () => {
  const result = await runCli([
    "eval",
    "coco",
    "--gt",
    `${oracles}coco/coco-sparse.gt.json`,
    "--dt",
    `${oracles}coco/coco-sparse.dt.json`,
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(
    result.stdout,
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] =  0.209",
  );
});

Deno.test("eval lvis --max-dets -1 names its recall keys AR@-1", async () => {
  const result = await runCli([
    "eval",
    "lvis",
    "--gt",
    `${oracles}lvis/lvis-a.gt.json`,
    "--dt",
    `${oracles}lvis/lvis-a.dt.json`,
    "--max-dets",
    "-1",
    "--json",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const expected = JSON.parse(await Deno.readTextFile(`${oracles}lvis/lvis-a-nocap.expected.json`));
  assertEquals(JSON.parse(result.stdout).results, expected.results);
});

Deno.test("eval flickr30k --json prints recall by k and phrase type", async () => {
  const root = `${oracles}flickr30k/flickr-a`;
  const result = await runCli([
    "eval",
    "flickr30k",
    "--root",
    root,
    "--subset",
    "test",
    "--pred",
    `${root}/preds.json`,
    "--json",
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(
    JSON.parse(result.stdout),
    JSON.parse(await Deno.readTextFile(`${root}/expected-anybox.json`)),
  );
});

Deno.test("eval reports malformed input with the file and position, and an empty detection list as 0/-1", async () => {
  const dir = await makeTestDir();
  await Deno.writeTextFile(`${dir}/bad.json`, '[{"image_id": 1,');
  const bad = await runCli([
    "eval",
    "coco",
    "--gt",
    `${oracles}coco/coco-sparse.gt.json`,
    "--dt",
    `${dir}/bad.json`,
  ]);
  assertEquals(bad.code, 1);
  assertStringIncludes(bad.stderr, `${dir}/bad.json: not valid JSON`);
  await Deno.writeTextFile(`${dir}/empty.json`, "[]");
  const empty = await runCli([
    "eval",
    "coco",
    "--gt",
    `${oracles}coco/coco-sparse.gt.json`,
    "--dt",
    `${dir}/empty.json`,
    "--json",
  ]);
  assertEquals(empty.code, 0, empty.stderr);
  assertEquals(JSON.parse(empty.stdout).named.AP, 0);
  const unknown = await runCli(["eval", "cocoo"]);
  assertEquals(unknown.code, 2);
  assertStringIncludes(unknown.stderr, "Did you mean 'coco'?");
});
