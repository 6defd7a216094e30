/**
 * The checkpoint writers and readers agree: torch >= 1.6 zip files and legacy files, float32,
 * float16, bfloat16 and int64 tensors, the `model` wrapper and `module.` prefixes.
 */
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import {
  readCheckpoint,
  type TensorSpec,
  writeLegacyCheckpoint,
  writeTorchZipCheckpoint,
} from "../../models/checkpoint/mod.ts";
import { ZipReader } from "../../models/checkpoint/zip.ts";

const specs: TensorSpec[] = [
  { name: "module.backbone.fc.weight", dtype: "float32", shape: [3, 4] },
  { name: "module.backbone.fc.bias", dtype: "float16", shape: [3] },
  { name: "module.rpn.head.scale", dtype: "bfloat16", shape: [2] },
  { name: "module.attn.relative_position_index", dtype: "int64", shape: [2, 2] },
];
const fc = Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1);
const half = new Float16Array([0.5, -2, 1024]);
const bf16 = new Uint16Array([0x3f80, 0xc040]); // 1, -3
const ints = BigInt64Array.from([84n, -1n, 2n ** 40n, 0n]);
const bytesOf = (i: number) => new Uint8Array([fc, half, bf16, ints][i].buffer as ArrayBuffer);

for (
  const [format, write] of [
    ["pth-zip", writeTorchZipCheckpoint],
    ["pth-legacy", writeLegacyCheckpoint],
  ] as const
) {
  Deno.test(`${format}: written tensors read back with names, dtypes, shapes and values`, async () => {
    const dir = await makeTestDir();
    await write(`${dir}/w.pth`, specs, bytesOf);
    const checkpoint = await readCheckpoint(`${dir}/w.pth`);
    try {
      assertEquals(checkpoint.format, format);
      assertEquals([...checkpoint.tensors.keys()], specs.map((s) => s.name.slice(7)));
      for (const spec of specs) {
        const tensor = checkpoint.tensors.get(spec.name.slice(7))!;
        assertEquals([tensor.dtype, tensor.shape], [spec.dtype, spec.shape]);
      }
      const get = (name: string) => checkpoint.tensors.get(name)!;
      assertEquals([...await get("backbone.fc.weight").toFloat32()], [...fc]);
      assertEquals([...await get("backbone.fc.bias").toFloat32()], [0.5, -2, 1024]);
      assertEquals([...await get("rpn.head.scale").toFloat32()], [1, -3]);
      assertEquals([...await get("attn.relative_position_index").toBigInt64()], [...ints]);
    } finally {
      checkpoint.close();
    }
  });
}

Deno.test("the zip writer follows torch's layout: archive/ entries, data 64-byte aligned", async () => {
  const dir = await makeTestDir();
  await writeTorchZipCheckpoint(`${dir}/w.pth`, specs, bytesOf);
  const zip = await ZipReader.open(`${dir}/w.pth`);
  try {
    assertEquals([...zip.entries.keys()], [
      "archive/data.pkl",
      "archive/byteorder",
      "archive/data/0",
      "archive/data/1",
      "archive/data/2",
      "archive/data/3",
      "archive/version",
    ]);
    for (const entry of zip.entries.values()) assertEquals(entry.dataOffset % 64, 0, entry.name);
  } finally {
    zip.close();
  }
});

Deno.test("the writers refuse data that does not fit the shape, naming the tensor", async () => {
  const dir = await makeTestDir();
  const error = await assertRejects(() =>
    writeTorchZipCheckpoint(
      `${dir}/w.pth`,
      specs,
      (i) => (i === 1 ? new Uint8Array(2) : bytesOf(i)),
    )
  );
  assertStringIncludes(String(error), "module.backbone.fc.bias");
});

Deno.test("a legacy file cut short fails with a message that says so", async () => {
  const dir = await makeTestDir();
  await writeLegacyCheckpoint(`${dir}/w.pth`, specs, bytesOf);
  const bytes = await Deno.readFile(`${dir}/w.pth`);
  await Deno.writeFile(`${dir}/cut.pth`, bytes.subarray(0, bytes.length - 10));
  const error = await assertRejects(() => readCheckpoint(`${dir}/cut.pth`));
  assert(/truncated|cut\.pth/.test(String(error)), String(error));
});
