import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { InputError } from "../../core/errors.ts";
import { checkExpectedShapes, readCheckpoint } from "../../models/checkpoint/mod.ts";
import { readSafetensors, readSafetensorsMetadata } from "../../models/checkpoint/safetensors.ts";
import { readNpy } from "../../models/npy.ts";
import {
  deepSafetensorsBytes,
  type RawTensor,
  safetensorsBytes,
  writeAliasedCheckpoint,
  writeRawCheckpoint,
  writeRawLegacyCheckpoint,
} from "../hostile/checkpoints.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hostile-checkpoint-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const plain: RawTensor = { name: "w", key: "0", numel: 4, offset: 0, size: [2, 2], stride: [2, 1] };

/** Writes a one-storage checkpoint whose tensor differs from `plain` by `change`. */
async function refusal(change: Partial<RawTensor>, storageBytes = 16): Promise<InputError> {
  let error: InputError | undefined;
  await withTempDir(async (dir) => {
    const path = join(dir, "bad.pth");
    await writeRawCheckpoint(path, [{ ...plain, ...change }], { "0": storageBytes });
    error = await assertRejects(() => readCheckpoint(path), InputError);
    assert(error.message.startsWith(path), error.message);
  });
  return error!;
}

Deno.test(".pth: a negative storage offset is refused, naming the tensor and the value", async () => {
  const error = await refusal({ offset: -2 });
  assert(error.message.includes(": w: storage offset must be a non-negative integer (got -2)"));
});

Deno.test(".pth: a negative dimension is an InputError, not a RangeError", async () => {
  const error = await refusal({ size: [-2, 2] });
  assert(error.message.includes("w: size must be a list of non-negative integers (got [-2,2])"));
});

Deno.test(".pth: storage classes named 'constructor' or '__proto__' are unknown types", async () => {
  for (const storageClass of ["constructor", "__proto__", "toString"]) {
    const error = await refusal({ storageClass });
    assert(error.message.includes("unsupported storage type"), error.message);
  }
});

Deno.test(".pth: a view past its storage, or a storage larger than its entry, is refused before reading", async () => {
  const past = await refusal({ offset: 1 });
  assert(past.message.includes("needs 5 elements, its storage 0 has 4"), past.message);
  const short = await refusal({}, 12);
  assert(short.message.includes("storage 0 declares 16 bytes, the file holds 12"), short.message);
});

Deno.test(".pth: 256 overlapping views of one 4 MiB storage are refused at open", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "aliased.pth");
    await writeAliasedCheckpoint(path);
    await assertRejects(() => readCheckpoint(path), InputError, "overlaps backbone.layer0.weight");
  });
});

Deno.test(".pth: names that are one view (tied weights) are read once and share one array", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "tied.pth");
    await writeAliasedCheckpoint(path, 4, true);
    const checkpoint = await readCheckpoint(path);
    try {
      const arrays = await Promise.all(
        [...checkpoint.tensors.values()].map((tensor) => tensor.toFloat32()),
      );
      assertEquals(arrays.length, 4);
      assert(arrays.every((a) => a === arrays[0]) && arrays[0].length === 2 ** 20);
    } finally {
      checkpoint.close();
    }
  });
});

Deno.test(".pth: 'module.x' and 'x' in one state dict are refused, not silently merged", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "twice.pth");
    await writeRawCheckpoint(path, [plain, { ...plain, name: "module.w", key: "1" }], {
      "0": 16,
      "1": 16,
    });
    await assertRejects(() => readCheckpoint(path), InputError, "two tensors are named w");
  });
});

/** Writes safetensors bytes and returns the refusal of reading them. */
async function safetensorsRefusal(bytes: Uint8Array, includes: string): Promise<void> {
  await withTempDir(async (dir) => {
    const path = join(dir, "bad.safetensors");
    await Deno.writeFile(path, bytes);
    const error = await assertRejects(() => readSafetensors(path), InputError, includes);
    assert(error.message.startsWith(path), error.message);
  });
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, end],
});

Deno.test("safetensors: overlapping, gapped or short offsets are refused before reading", async () => {
  await safetensorsRefusal(
    safetensorsBytes({ a: f32([4], 0, 16), b: f32([4], 8, 24) }, 24),
    "b.data_offsets: data_offsets overlap those of a",
  );
  await safetensorsRefusal(
    safetensorsBytes({ a: f32([4], 0, 16), b: f32([4], 16, 32), c: f32([4], 0, 16) }, 32),
    "overlap",
  );
  await safetensorsRefusal(safetensorsBytes({ a: f32([1], 4, 8) }, 8), "a gap of 4 bytes");
  await safetensorsRefusal(safetensorsBytes({ a: f32([1], 0, 4) }, 8), "cover 4 bytes of data");
  await safetensorsRefusal(safetensorsBytes({ a: f32([4], 0, 16) }, 8), "end past the data");
});

Deno.test("safetensors: negative dims, bad dtypes and odd headers name the field and value", async () => {
  await safetensorsRefusal(safetensorsBytes({ a: f32([-1, -4], 0, 16) }, 16), "a.shape");
  await safetensorsRefusal(safetensorsBytes({ a: f32([4], -4, 12) }, 16), "a.data_offsets");
  for (const dtype of ["constructor", "__proto__", ["F32"]]) {
    await safetensorsRefusal(
      safetensorsBytes({ a: { ...f32([4], 0, 16), dtype } }, 16),
      "a.dtype: unsupported dtype",
    );
  }
  await safetensorsRefusal(safetensorsBytes([1, 2], 0), "not a JSON object");
  const huge = safetensorsBytes({}, 0);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
  await safetensorsRefusal(huge, "bad header length");
});

Deno.test("safetensors: a deeply nested header is refused, not a stack overflow", async () => {
  await safetensorsRefusal(
    deepSafetensorsBytes(100_000),
    "not valid JSON: nested deeper than 64 levels",
  );
  await withTempDir(async (dir) => {
    const path = join(dir, "deep.safetensors");
    await Deno.writeFile(path, deepSafetensorsBytes(100_000));
    await assertRejects(() => readSafetensorsMetadata(path), InputError, "nested deeper");
  });
});

/** A version 1.0 .npy with the given header dictionary text and data. */
function npy(header: string, data = new Uint8Array(0)): Uint8Array {
  const text = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(text, 10);
  out.set(data, 10 + text.length);
  return out;
}

Deno.test(".npy: negative dims, prototype dtypes and a header past the file are InputErrors", () => {
  const header = (descr: string, shape: string) =>
    `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  assertThrows(() => readNpy(npy(header("<f4", "(-1, 4)")), "a.npy"), InputError, "shape");
  assertThrows(() => readNpy(npy(header("constructor", "(1,)")), "a.npy"), InputError, "descr");
  assertThrows(
    () => readNpy(npy(header("<f4", "(1000000000, 1000000000)")), "a.npy"),
    InputError,
    "shape needs 1000000000000000000 elements",
  );
  const long = npy(header("<f4", "(1,)"));
  new DataView(long.buffer).setUint16(8, 60000, true);
  assertThrows(() => readNpy(long, "a.npy"), InputError, "header length");
});

Deno.test("checkExpectedShapes() lists every tensor whose declared shape is not the architecture's", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "shapes.pth");
    await writeRawCheckpoint(path, [plain, {
      ...plain,
      name: "b",
      key: "1",
      size: [4],
      stride: [1],
    }], {
      "0": 16,
      "1": 16,
    });
    const checkpoint = await readCheckpoint(path);
    try {
      checkExpectedShapes(checkpoint, new Map([["w", [2, 2]], ["b", [4]], ["absent", [3]]]));
      assertThrows(
        () => checkExpectedShapes(checkpoint, new Map([["w", [4, 1]], ["b", [2, 2]]])),
        InputError,
        "2 tensor(s) do not have the architecture's shape: w [2,2] (expected [4,1]), b [4] (expected [2,2])",
      );
    } finally {
      checkpoint.close();
    }
  });
});

/** Writes a legacy checkpoint and returns the refusal of reading it. */
async function legacyRefusal(
  tensors: RawTensor[],
  keys: string[],
  storageBytes: Record<string, number>,
  counts: Record<string, number> = {},
): Promise<InputError> {
  let error: InputError | undefined;
  await withTempDir(async (dir) => {
    const path = join(dir, "legacy.pth");
    await writeRawLegacyCheckpoint(path, tensors, keys, storageBytes, counts);
    error = await assertRejects(() => readCheckpoint(path), InputError);
    assert(error.message.startsWith(path), error.message);
  });
  return error!;
}

Deno.test("legacy .pth: the same checks, plus the storage list and its element counts", async () => {
  const negative = await legacyRefusal([{ ...plain, offset: -1 }], ["0"], { "0": 16 });
  assert(negative.message.includes("w: storage offset must be a non-negative integer (got -1)"));
  const overlap = await legacyRefusal(
    [plain, { ...plain, name: "v", offset: 1, size: [3], stride: [1] }],
    ["0"],
    { "0": 16 },
  );
  assert(overlap.message.includes("overlaps"), overlap.message);
  const twice = await legacyRefusal([plain], ["0", "0"], { "0": 16 });
  assert(twice.message.includes("a storage key is listed twice"), twice.message);
  const count = await legacyRefusal([plain], ["0"], { "0": 16 }, { "0": -4 });
  assert(count.message.includes("storage 0 records -4 elements"), count.message);
  const absent = await legacyRefusal([plain], [], {});
  assert(
    absent.message.includes("storage 0 declares 16 bytes, the file holds none"),
    absent.message,
  );
});

Deno.test("legacy .pth: well-formed raw files still read (the refusals above are not blanket)", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "legacy.pth");
    await writeRawLegacyCheckpoint(path, [plain], ["0"], { "0": 16 });
    const checkpoint = await readCheckpoint(path);
    try {
      assertEquals([...(await checkpoint.tensors.get("w")!.toFloat32())], [0, 0, 0, 0]);
    } finally {
      checkpoint.close();
    }
  });
});
