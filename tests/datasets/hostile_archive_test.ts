import { assertEquals, assertRejects } from "../assert.ts";
import { ArchiveError, extractArchive, MAX_ENTRY_NAME_BYTES } from "../../datasets/extract.ts";
import { gzip, makeTar, makeZip } from "./archive_fixtures.ts";
import { paxBombTar, zipDeclaringLess } from "../hostile/archives.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hostile-archive-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `bytes` with every occurrence of `from` replaced by `to` (same length). */
function renamed(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const [a, b] = [new TextEncoder().encode(from), new TextEncoder().encode(to)];
  for (let p = 0; p + a.length <= bytes.length; p++) {
    if (a.every((byte, i) => bytes[p + i] === byte)) bytes.set(b, p);
  }
  return bytes;
}

/** The names in `dir` (the archive itself excluded). */
async function leftovers(dir: string, archive: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.name !== archive) names.push(entry.name);
  return names.sort();
}

/** Extracting `bytes` as `name` fails with `message`, and nothing but the archive is left. */
async function refusedLeavingNothing(bytes: Uint8Array, name: string, message: string) {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/${name}`, bytes);
    await assertRejects(
      () => extractArchive(`${dir}/${name}`, `${dir}/out`),
      ArchiveError,
      message,
    );
    assertEquals(await leftovers(dir, name), []);
  });
}

Deno.test("a tar.gz declaring a 256 MiB pax header is refused before the header is buffered", async () => {
  // only the first 64 KiB of the record's zeros follow: the refusal must come before reading it
  await refusedLeavingNothing(
    await gzip(paxBombTar(2 ** 28, 1 << 16)),
    "a.tar.gz",
    "pax record of 268435456 bytes",
  );
});

Deno.test("a zip entry that inflates past its declared size stops at once and leaves nothing", async () => {
  await refusedLeavingNothing(
    zipDeclaringLess({ "ok.txt": "fine", "bomb.bin": "x".repeat(1 << 20) }, "bomb.bin", 10),
    "a.zip",
    "entry 'bomb.bin' inflates past its declared 10 bytes",
  );
});

Deno.test("an archive that fails half-way leaves no entry on disk, and the target as it was", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/out/odinw`, { recursive: true });
    await Deno.writeTextFile(`${dir}/out/odinw/keep.txt`, "mine");
    const zip = makeZip({ "odinw/first.txt": "first", "odinw/second.txt": "hello hello" }, 0);
    zip[
      zip.lastIndexOf(
        "h".charCodeAt(0),
        zip.indexOf(new TextEncoder().encode("PK\x01\x02")[0], 100),
      )
    ] = 0;
    const at = zip.indexOf("h".charCodeAt(0), 30);
    zip[at] = "j".charCodeAt(0);
    await Deno.writeFile(`${dir}/a.zip`, zip);
    await assertRejects(() => extractArchive(`${dir}/a.zip`, `${dir}/out`), ArchiveError, "CRC-32");
    assertEquals(await leftovers(dir, "a.zip"), ["out"]);
    assertEquals(await leftovers(`${dir}/out/odinw`, ""), ["keep.txt"]);
  });
});

Deno.test("a successful extraction merges into the target: new files in place, others kept", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/out/odinw`, { recursive: true });
    await Deno.writeTextFile(`${dir}/out/odinw/keep.txt`, "mine");
    await Deno.writeTextFile(`${dir}/out/odinw/a.txt`, "old");
    await Deno.writeFile(`${dir}/a.tar`, makeTar({ "odinw/a.txt": "new", "odinw/b/c.txt": "c" }));
    assertEquals(await extractArchive(`${dir}/a.tar`, `${dir}/out`), 2);
    assertEquals(await Deno.readTextFile(`${dir}/out/odinw/a.txt`), "new");
    assertEquals(await Deno.readTextFile(`${dir}/out/odinw/b/c.txt`), "c");
    assertEquals(await Deno.readTextFile(`${dir}/out/odinw/keep.txt`), "mine");
    assertEquals(await leftovers(dir, "a.tar"), ["out"]);
  });
});

Deno.test("two entries of one name are refused (zip before writing, tar when the second comes)", async () => {
  // the same file listed twice: rename the second entry in its local and central headers
  const zip = renamed(makeZip({ "d/a.txt": "first", "d/b.txt": "other" }, 0), "d/b.txt", "d/a.txt");
  await refusedLeavingNothing(zip, "a.zip", "entry 'd/a.txt' appears twice");
  const first = makeTar({ "d/a.txt": "first" });
  const tar = new Uint8Array([
    ...first.subarray(0, first.length - 1024),
    ...makeTar({ "./d/a.txt": "second" }),
  ]);
  await refusedLeavingNothing(tar, "a.tar", "entry './d/a.txt' appears twice");
});

Deno.test("over-long names and paths that climb out are refused, also in tar", async () => {
  await refusedLeavingNothing(
    makeTar({ [`${"n".repeat(MAX_ENTRY_NAME_BYTES)}/x.txt`]: "x" }),
    "a.tar",
    `longer than ${MAX_ENTRY_NAME_BYTES} bytes`,
  );
  for (const name of ["a/../../evil.txt", "/etc/evil.txt"]) {
    await refusedLeavingNothing(makeTar({ [name]: "x" }), "a.tar", "would extract outside");
  }
});
