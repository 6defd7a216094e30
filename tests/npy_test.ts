import { assertEquals, assertThrows } from "./assert.ts";
import { FIXTURES } from "./cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { readNpy, readNpyFile, writeNpy } from "../models/npy.ts";
import { InputError } from "../core/errors.ts";

const REF = fileURLToPath(new URL("glip-reference/tiny-fusion/", FIXTURES));

Deno.test("readNpyFile() reads the reference tensors with their manifest shapes and dtypes", async () => {
  const manifest = JSON.parse(await Deno.readTextFile(`${REF}manifest.json`));
  for (const name of ["input.npy", "input_ids.npy", "fpn_p7.npy", "dets_sorted_labels.npy"]) {
    const array = await readNpyFile(`${REF}${name}`);
    assertEquals(array.shape, manifest[name].shape, name);
    assertEquals(array.dtype, manifest[name].dtype, name);
  }
});

Deno.test("writeNpy() round-trips through readNpy()", () => {
  const data = new Float32Array([1.5, -2, 3, 4, 5, 6]);
  const back = readNpy(writeNpy({ dtype: "float32", shape: [2, 3], data }));
  assertEquals(back.shape, [2, 3]);
  assertEquals([...back.data as Float32Array], [...data]);
});

Deno.test("readNpy() rejects a file that is not .npy", () => {
  assertThrows(
    () => readNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), "x.npy"),
    InputError,
    "x.npy: not a .npy file",
  );
});
