import { assertEquals, assertThrows } from "../assert.ts";
import { InputError } from "../../core/errors.ts";
import { findDeepNesting, parseJsonText } from "../../core/json.ts";
import { loadCocoJson, parseJsonFile } from "../../datasets/coco_json.ts";

const deep = (n: number) => `{"images": ${"[".repeat(n)}${"]".repeat(n)}}`;

Deno.test("findDeepNesting() counts brackets outside strings only", () => {
  assertEquals(
    findDeepNesting('["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]'),
    undefined,
  );
  assertEquals(findDeepNesting('["\\"[[[[[["]', 3), undefined);
  assertEquals(findDeepNesting("[[[[]]]]", 3), { offset: 3, depth: 4 });
});

Deno.test("parseJsonText() refuses nesting deeper than its limit with the file and offset", () => {
  assertThrows(
    () => parseJsonText(deep(1_000_000), "gt.json"),
    InputError,
    "gt.json: not valid JSON: nested deeper than 64 levels at position 74",
  );
  assertThrows(() => parseJsonText('{"a": }', "a.json"), InputError, "a.json: not valid JSON");
  assertEquals(parseJsonText("[[1]]", "a.json"), [[1]]);
});

Deno.test("a dataset JSON with a deeply nested value is refused with its line and column", async () => {
  assertThrows(
    () => parseJsonFile(deep(200_000), "gt.json"),
    InputError,
    "nested deeper than 64 levels at position 74 (line 1, column 75)",
  );
  const dir = await Deno.makeTempDir({ prefix: "deep-json-" });
  try {
    await Deno.writeTextFile(`${dir}/gt.json`, deep(200_000));
    await assertRejectsInput(() => loadCocoJson(`${dir}/gt.json`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertRejectsInput(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof InputError && error.message.includes("nested deeper")) return;
    throw error;
  }
  throw new Error("expected an InputError about nesting");
}
