import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../assert.ts";
import { Registry } from "../../core/registry.ts";
import { UsageError } from "../../core/errors.ts";
import { suggest } from "../../core/did_you_mean.ts";

Deno.test("Registry.get() loads an entry once, lazily", async () => {
  let loads = 0;
  const registry = new Registry<{ value: number }>("thing");
  registry.register({ name: "a", summary: "first", load: () => ({ value: ++loads }) });
  assertEquals(loads, 0);
  assertEquals((await registry.get("a")).value, 1);
  assertEquals((await registry.get("a")).value, 1);
  assertEquals(loads, 1);
});

Deno.test("Registry.get() answers an unknown name with did-you-mean and the list", async () => {
  const registry = new Registry<number>("engine");
  for (const name of ["onnx", "webgpu", "wasm"]) {
    registry.register({ name, summary: name, load: () => 1 });
  }
  const error = await assertRejects(() => registry.get("onx"), UsageError);
  assertStringIncludes(error.message, "Unknown engine 'onx'. Did you mean 'onnx'?");
  assertStringIncludes(error.message, "Available: onnx, wasm, webgpu.");
});

Deno.test("Registry.register() refuses duplicates and bad names", () => {
  const registry = new Registry<number>("suite");
  registry.register({ name: "odinw", summary: "", load: () => 1 });
  assertThrows(() => registry.register({ name: "odinw", summary: "", load: () => 2 }), TypeError);
  assertThrows(
    () => registry.register({ name: "has space", summary: "", load: () => 2 }),
    TypeError,
  );
});

Deno.test("suggest() ranks close names first and ignores far ones", () => {
  assertEquals(suggest("lvsi", ["lvis", "coco", "odinw"]), ["lvis"]);
  assertEquals(suggest("zzzzzz", ["lvis", "coco"]), []);
});
