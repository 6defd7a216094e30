import { makeTestDir } from "./temp_dir.ts";
import { assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import { FIXTURES, runCli } from "./cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { readCheckpoint, writeSafetensors } from "../models/checkpoint/mod.ts";
import { presetArchitecture } from "../models/glip/config.ts";
import { buildHeadGraph, buildImageGraph, buildTextGraph } from "../models/glip/graphs.ts";
import { RandomWeights } from "../models/glip/weights.ts";

const REF = fileURLToPath(new URL("glip-reference/tiny-fusion/", FIXTURES));

Deno.test("readCheckpoint() reads every key, dtype and shape of the official-format tiny-fusion .pth", async () => {
  const checkpoint = await readCheckpoint(`${REF}model.pth`);
  const lines = (await Deno.readTextFile(`${REF}keys.txt`)).trim().split("\n");
  assertEquals(checkpoint.tensors.size, lines.length);
  for (const line of lines) {
    const [key, dtype, shape] = line.split("\t");
    const tensor = checkpoint.tensors.get(key.replace(/^module\./, ""))!;
    assertEquals(tensor.dtype, dtype, key);
    assertEquals(tensor.shape.join("x"), shape, key);
  }
  const index = await checkpoint.tensors.get(
    "backbone.body.layers.0.blocks.0.attn.relative_position_index",
  )!.toBigInt64();
  assertEquals(index[0], 84n);
  checkpoint.close();
});

Deno.test("safetensors round trip, and export reads it like a .pth", async () => {
  const arch = presetArchitecture("nano");
  const random = new RandomWeights(5);
  buildTextGraph(arch, random);
  buildImageGraph(arch, random);
  buildHeadGraph(arch, random, "native");
  const tensors = new Map(
    [...random.requested].map((
      [name, shape],
    ) => [`module.${name}`, { shape, data: random.get(name, shape) }]),
  );
  const dir = await makeTestDir();
  await writeSafetensors(`${dir}/nano.safetensors`, tensors);
  const checkpoint = await readCheckpoint(`${dir}/nano.safetensors`);
  assertEquals(checkpoint.format, "safetensors");
  const name = "rpn.head.bias_lang";
  assertEquals([...await checkpoint.tensors.get(name)!.toFloat32()], [
    ...tensors.get(`module.${name}`)!.data,
  ]);
  checkpoint.close();
  const result = await runCli([
    "export",
    "--checkpoint",
    `${dir}/nano.safetensors`,
    "--config",
    "nano",
    "--out",
    `${dir}/bundle`,
  ]);
  assertEquals(result.code, 0, result.stderr);
});

Deno.test("readCheckpoint() names the problem in a truncated legacy file", async () => {
  const dir = await makeTestDir();
  await Deno.writeFile(
    `${dir}/old.pth`,
    new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46]),
  );
  const error = await assertRejects(() => readCheckpoint(`${dir}/old.pth`));
  assertStringIncludes(String(error), "old.pth");
});
