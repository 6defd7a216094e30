/**
 * A native cell's `done.json` is written last and names the digests of what the cell produced;
 * a finished cell is trusted only while they match (a damaged checkpoint or tuned bundle sends
 * the cell back to training, which resumes from its state).
 */
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { finishedCell, type NativeCellResult, writeDone } from "../../benchmarks/native_trainer.ts";
import { sha256File } from "../../core/hash.ts";
import { bundleDigest, loadBundle } from "../../models/bundle.ts";
import { bundleCopy, flipByte, textDataFile } from "../model/bundle_fixtures.ts";

const record = (checkpoint: string): NativeCellResult => ({
  checkpoint,
  zeroShotValAp: 0.1,
  bestValAp: 0.2,
  bestEpoch: 1,
  epochs: [],
  settings: {} as NativeCellResult["settings"],
  images: 3,
  trainedOn: "test",
});

Deno.test("done.json names the produced files' digests and is trusted only while they match", async () => {
  const dir = await Deno.makeTempDir({ prefix: "native-done-" });
  try {
    await Deno.writeTextFile(join(dir, "prompt.safetensors"), "offset bytes");
    const written = await writeDone(dir, record(join(dir, "prompt.safetensors")), [
      "prompt.safetensors",
    ]);
    assertEquals(written.files, {
      "prompt.safetensors": await sha256File(join(dir, "prompt.safetensors")),
    });
    assertEquals(await finishedCell(dir, () => {}), written);
    const lines: string[] = [];
    await Deno.writeTextFile(join(dir, "prompt.safetensors"), "offset bytez");
    assertEquals(await finishedCell(dir, (l) => lines.push(l)), undefined);
    assert(lines[0].includes("does not match") && lines[0].includes("finishing the cell again"));
    // a done.json of an older version (no digests) is not trusted either
    await Deno.writeTextFile(join(dir, "done.json"), JSON.stringify(record("x")));
    assertEquals(await finishedCell(dir, () => {}), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("done.json records a tuned bundle by its verified digest; a damaged bundle is not finished", async () => {
  const bundleDir = await bundleCopy();
  const dir = join(bundleDir, "..");
  const name = bundleDir.slice(dir.length + 1);
  const written = await writeDone(dir, record(bundleDir), [name]);
  assertEquals(written.files![name], await bundleDigest(await loadBundle(bundleDir)));
  assertEquals((await finishedCell(dir, () => {}))?.files, written.files);
  await flipByte(join(bundleDir, await textDataFile(bundleDir)));
  const lines: string[] = [];
  assertEquals(await finishedCell(dir, (l) => lines.push(l)), undefined);
  assert(lines[0].includes("sha256 mismatch"), lines[0]);
});
