import { assertEquals, assertRejects } from "../assert.ts";
import { ArchiveError, archiveKind, extractArchive } from "../../datasets/extract.ts";
import { gzip, makeTar, makeZip } from "./archive_fixtures.ts";

const files = {
  "Aquarium/train/annotations_without_background.json": '{"images": []}',
  "Aquarium/train/IMG_1.jpg": "x".repeat(70_000),
  [`Aquarium/${"long-folder-name/".repeat(8)}deep.txt`]: "deep",
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertExtracted(dir: string): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    assertEquals(await Deno.readTextFile(`${dir}/out/${name}`), content, name);
  }
}

for (const level of [0, 6] as const) {
  Deno.test(`extractArchive() unpacks a ${level ? "deflated" : "stored"} zip with every byte`, async () => {
    await withDir(async (dir) => {
      await Deno.writeFile(`${dir}/a.zip`, makeZip(files, level));
      assertEquals(await extractArchive(`${dir}/a.zip`, `${dir}/out`), 3);
      await assertExtracted(dir);
    });
  });
}

Deno.test("extractArchive() unpacks tar and tar.gz, GNU long names included", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/a.tar`, makeTar(files));
    assertEquals(await extractArchive(`${dir}/a.tar`, `${dir}/out`), 3);
    await assertExtracted(dir);
    await Deno.remove(`${dir}/out`, { recursive: true });
    await Deno.writeFile(`${dir}/a.tar.gz`, await gzip(makeTar(files)));
    assertEquals(await extractArchive(`${dir}/a.tar.gz`, `${dir}/out`), 3);
    await assertExtracted(dir);
  });
});

Deno.test("extractArchive() detects a corrupted zip entry by its CRC-32", async () => {
  await withDir(async (dir) => {
    const zip = makeZip({ "a.txt": "hello hello hello" }, 0);
    const at = zip.indexOf("h".charCodeAt(0), 30);
    zip[at] = "j".charCodeAt(0);
    await Deno.writeFile(`${dir}/a.zip`, zip);
    await assertRejects(() => extractArchive(`${dir}/a.zip`, `${dir}/out`), ArchiveError, "CRC-32");
  });
});

Deno.test("extractArchive() refuses entries that climb out of the target folder", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/a.zip`, makeZip({ "../evil.txt": "x" }));
    await assertRejects(
      () => extractArchive(`${dir}/a.zip`, `${dir}/out`),
      ArchiveError,
      "'../evil.txt' would extract outside",
    );
  });
});

Deno.test("extractArchive() names a file that is not a zip and an unknown extension", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.zip`, "<html>not a zip</html>");
    await assertRejects(() => extractArchive(`${dir}/a.zip`, dir), ArchiveError, "not a zip file");
    await assertRejects(() => extractArchive(`${dir}/a.rar`, dir), ArchiveError, "a.rar");
  });
  assertEquals(archiveKind("x.tgz"), "tar.gz");
});
