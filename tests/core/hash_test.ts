/**
 * Streamed file hashing agrees with hashing the bytes whole across chunk boundaries, and atomic
 * writes leave either the old file or the new one, with no temporary file after a failure.
 */
import { join } from "node:path";
import { assertEquals, assertRejects } from "../assert.ts";
import { HASH_CHUNK_BYTES, sha256File, sha256Hex } from "../../core/hash.ts";
import { writeFileAtomic, writeViaTemporary } from "../../core/atomic_file.ts";

Deno.test("sha256File() equals sha256Hex() of the whole bytes, for sizes around the chunk size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hash-" });
  try {
    for (const size of [0, 1, HASH_CHUNK_BYTES - 1, HASH_CHUNK_BYTES, 2 * HASH_CHUNK_BYTES + 5]) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 31 + (i >> 12)) & 0xff);
      await Deno.writeFile(join(dir, "f"), bytes);
      assertEquals(await sha256File(join(dir, "f")), await sha256Hex(bytes), `${size} bytes`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed write through a temporary file keeps the old file and leaves no temporary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atomic-" });
  try {
    const path = join(dir, "state.json");
    await writeFileAtomic(path, "old");
    await assertRejects(
      () =>
        writeViaTemporary(path, async (temp) => {
          await Deno.writeTextFile(temp, "half");
          throw new Error("disk full");
        }),
      Error,
      "disk full",
    );
    assertEquals(await Deno.readTextFile(path), "old");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["state.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
