/**
 * A bundle is used only after its files are verified: every listed file has its recorded size and
 * sha256 (streamed, remembered by path, size, times and inode so the second load hashes nothing),
 * and every ONNX external-data location stays inside the bundle folder. Each engine, the weight
 * reader and the tuned-bundle writer refuse a damaged or escaping bundle with a message naming
 * the file (and both digests or sizes), and a file outside the folder is never read or written.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { InputError } from "../../core/errors.ts";
import { sha256File } from "../../core/hash.ts";
import { DIGEST_CACHE_FILE } from "../../core/digest_cache.ts";
import { bundleDigest, loadBundle, type ModelBundle } from "../../models/bundle.ts";
import { digestOfFiles } from "../../models/bundle_files.ts";
import {
  bundleWeights,
  readFloatInitializers,
  writeTunedBundle,
} from "../../models/glip/bundle_weights.ts";
import { onnxEngineFactory } from "../../engines/onnx_node/engine.ts";
import { wasmEngineFactory, webgpuEngineFactory } from "../../engines/ort_web/engine.ts";
import type { EngineFactory } from "../../engines/engine.ts";
import {
  bundleCopy,
  flipByte,
  outsideFile,
  pointTextGraphAt,
  readManifest,
  tempDir,
  textDataFile,
} from "./bundle_fixtures.ts";

const ENGINES: EngineFactory[] = [onnxEngineFactory, wasmEngineFactory, webgpuEngineFactory];

/** A bundle object as a caller might hold it, without going through loadBundle(). */
async function unverified(dir: string): Promise<ModelBundle> {
  return { dir, manifest: await readManifest(dir) };
}

Deno.test("a corrupted (same-size) file is refused by loadBundle and every engine, naming the file and both digests", async () => {
  const dir = await bundleCopy();
  const intact = await loadBundle(dir);
  const data = await textDataFile(dir);
  const expected = intact.manifest.sha256[data];
  await flipByte(join(dir, data));
  const actual = await sha256File(join(dir, data));
  const refused = (error: Error) => {
    assertStringIncludes(error.message, join(dir, data));
    assertStringIncludes(error.message, expected);
    assertStringIncludes(error.message, actual);
  };
  refused(await assertRejects(() => loadBundle(dir), InputError));
  // a bundle loaded before the damage is checked again when an engine opens it
  for (const factory of ENGINES) {
    refused(await assertRejects(() => factory.create(intact), InputError, "sha256 mismatch"));
  }
  refused(await assertRejects(() => bundleWeights(intact, "text"), InputError));
  const out = join(await tempDir("tuned-"), "out");
  refused(await assertRejects(() => writeTunedBundle(intact, out, new Map(), { kind: "tuned" })));
});

Deno.test("a file whose size differs from the manifest is refused before hashing, naming both sizes", async () => {
  const dir = await bundleCopy();
  const bundle = await loadBundle(dir);
  const data = await textDataFile(dir);
  const size = bundle.manifest.sizes![data];
  await Deno.truncate(join(dir, data), size - 4);
  const cacheDir = await tempDir("verify-cache-");
  const error = await assertRejects(() => loadBundle(dir, { cacheDir }), InputError);
  assertStringIncludes(error.message, `${size - 4} bytes but the manifest lists ${size} bytes`);
  assertStringIncludes(error.message, data);
  // onnxruntime's own (doubled, C++) message for a truncated .data never shows
  const engineError = await assertRejects(() => onnxEngineFactory.create(bundle), InputError);
  assertStringIncludes(engineError.message, `${size - 4} bytes but the manifest lists ${size}`);
  const cache = JSON.parse(await Deno.readTextFile(join(cacheDir, DIGEST_CACHE_FILE)));
  assert(
    !Object.keys(cache.files).some((path) => path.endsWith(data)),
    "the truncated file was not hashed",
  );
});

Deno.test("the recorded bundle digest comes from verified bytes, never from an unverified manifest", async () => {
  const dir = await bundleCopy();
  const bundle = await loadBundle(dir);
  const actual: Record<string, string> = {};
  for (const file of Object.keys(bundle.manifest.sha256)) {
    actual[file] = await sha256File(join(dir, file));
  }
  assertEquals(await bundleDigest(bundle.manifest), await digestOfFiles(actual));
  assertEquals(await bundleDigest(bundle), await digestOfFiles(actual));
  const claimed = await readManifest(dir);
  await assertRejects(() => bundleDigest(claimed), Error, "not verified");
  // a bundle object is verified on demand: a damaged one has no digest
  await flipByte(join(dir, await textDataFile(dir)));
  const damaged = await unverified(dir);
  await assertRejects(() => bundleDigest(damaged), InputError, "sha256 mismatch");
});

Deno.test("verified digests are remembered: the second load hashes nothing, a changed file is hashed again", async () => {
  const dir = await bundleCopy();
  const cacheDir = await tempDir("verify-cache-");
  const files = Object.keys((await readManifest(dir)).sha256).sort();
  const first = await loadBundle(dir, { cacheDir });
  assertEquals(first.verification!.hashed.sort(), files);
  const second = await loadBundle(dir, { cacheDir });
  assertEquals(second.verification!.hashed, []);
  assertEquals(second.verification!.cached.sort(), files);
  assertEquals(second.verification!.digest, first.verification!.digest);

  // same bytes and size, a new modification time: hashed again (and still valid)
  const data = await textDataFile(dir);
  await Deno.utime(join(dir, data), new Date(), new Date(Date.now() + 5000));
  const third = await loadBundle(dir, { cacheDir });
  assertEquals(third.verification!.hashed, [data]);

  // same size, new bytes: the remembered digest is not trusted
  await flipByte(join(dir, data));
  await assertRejects(() => loadBundle(dir, { cacheDir }), InputError, "sha256 mismatch");
});

Deno.test("a corrupt verify cache is ignored and rebuilt", async () => {
  const dir = await bundleCopy();
  const cacheDir = await tempDir("verify-cache-");
  await Deno.writeTextFile(join(cacheDir, DIGEST_CACHE_FILE), '{"format": "glip-bench-digest-ca');
  const files = Object.keys((await readManifest(dir)).sha256);
  assertEquals((await loadBundle(dir, { cacheDir })).verification!.hashed.length, files.length);
  const rebuilt = JSON.parse(await Deno.readTextFile(join(cacheDir, DIGEST_CACHE_FILE)));
  assertEquals(Object.keys(rebuilt.files).length, files.length);
  // an entry with a forged digest but another stat is not trusted
  const path = Object.keys(rebuilt.files)[0];
  rebuilt.files[path] = { ...rebuilt.files[path], sha256: "0".repeat(64), ino: -5 };
  await Deno.writeTextFile(join(cacheDir, DIGEST_CACHE_FILE), JSON.stringify(rebuilt));
  assertEquals((await loadBundle(dir, { cacheDir })).verification!.hashed.length, 1);
});

/** Every reader, engine and writer refuses the bundle; `outside` stays byte-identical. */
async function assertEscapeRefused(
  dir: string,
  outside: { path: string; bytes: Uint8Array },
  expected: string[],
): Promise<void> {
  const refused = (error: Error) => {
    for (const text of expected) assertStringIncludes(error.message, text);
  };
  refused(await assertRejects(() => loadBundle(dir), InputError));
  const hostile = await unverified(dir);
  for (const factory of ENGINES) {
    refused(await assertRejects(() => factory.create(hostile), InputError));
  }
  refused(await assertRejects(() => bundleWeights(hostile, "text"), InputError));
  refused(
    await assertRejects(
      () => readFloatInitializers(join(dir, hostile.manifest.graphs.text.file)),
      InputError,
    ),
  );
  // the tuner's writer: from a hostile base, and into a folder holding a hostile copy
  const tensor = "language_backbone.body.model.embeddings.word_embeddings.weight";
  const values = new Map([[tensor, new Float32Array(1)]]);
  const source = { kind: "tuned" as const, base: "test" };
  const out = join(await tempDir("tuned-"), "out");
  refused(await assertRejects(() => writeTunedBundle(hostile, out, values, source), InputError));
  const intact = await loadBundle(await bundleCopy());
  const full = (await readFloatInitializers(join(intact.dir, intact.manifest.graphs.text.file)))
    .get(tensor)!.data.map((v) => v + 1);
  refused(
    await assertRejects(
      () => writeTunedBundle(intact, dir, new Map([[tensor, full]]), source),
      InputError,
    ),
  );
  assertEquals(await Deno.readFile(outside.path), outside.bytes, "the file outside is unchanged");
}

Deno.test("an external-data location '../outside.bin' is refused everywhere, naming graph, tensor and location", async () => {
  const dir = await bundleCopy();
  const outside = await outsideFile(dir);
  const tensor = await pointTextGraphAt(dir, "../outside.bin");
  const graph = join(dir, (await readManifest(dir)).graphs.text.file);
  await assertEscapeRefused(dir, outside, [graph, tensor, "../outside.bin", "'..' segment"]);
});

Deno.test("an absolute external-data location is refused everywhere", async () => {
  const dir = await bundleCopy();
  const outside = await outsideFile(dir);
  const tensor = await pointTextGraphAt(dir, outside.path);
  await assertEscapeRefused(dir, outside, [tensor, outside.path, "the path is absolute"]);
});

Deno.test("a symlink leaving the bundle folder is refused everywhere", async () => {
  const dir = await bundleCopy();
  const outside = await outsideFile(dir);
  const data = await textDataFile(dir);
  await Deno.remove(join(dir, data));
  await Deno.symlink("../outside.bin", join(dir, data));
  const textGraph = join(dir, (await readManifest(dir)).graphs.text.file);
  await assertEscapeRefused(dir, outside, [
    textGraph,
    data,
    outside.path,
    "outside the bundle folder",
  ]);
});

/** `bench --protocol few-shot --trainer native` on the demo data with the bundle at `dir`. */
async function benchNative(dir: string) {
  const { runCli } = await import("../cli_helpers.ts");
  const out = await tempDir("native-refused-");
  return await runCli([
    "bench",
    "odinw",
    "--demo",
    "--model",
    dir,
    "--protocol",
    "few-shot",
    "--trainer",
    "native",
    "--tasks",
    "DemoColors",
    "--shots",
    "1",
    "--epochs",
    "1",
    "--out",
    join(out, "run"),
    "--no-report",
  ]);
}

Deno.test("native tuning refuses an escaping bundle before reading it (bench --trainer native)", async () => {
  const dir = await bundleCopy();
  const outside = await outsideFile(dir);
  await pointTextGraphAt(dir, "../outside.bin");
  const result = await benchNative(dir);
  assertEquals(result.code, 1, result.stderr);
  assertStringIncludes(result.stderr, "../outside.bin");
  assertEquals(await Deno.readFile(outside.path), outside.bytes);
});

Deno.test("native tuning refuses a corrupted bundle, naming the file and both digests", async () => {
  const dir = await bundleCopy();
  const data = await textDataFile(dir);
  const expected = (await readManifest(dir)).sha256[data];
  await flipByte(join(dir, data));
  const result = await benchNative(dir);
  assertEquals(result.code, 1, result.stderr);
  for (const text of [join(dir, data), expected, await sha256File(join(dir, data))]) {
    assertStringIncludes(result.stderr, text);
  }
});

Deno.test("writeTunedBundle never patches a hard-linked file in place (it would change the other name too)", async () => {
  const intact = await loadBundle(await bundleCopy());
  const dir = await bundleCopy();
  const outside = await outsideFile(dir);
  const data = await textDataFile(dir);
  await Deno.remove(join(dir, data));
  await Deno.link(outside.path, join(dir, data));
  const tensor = "language_backbone.body.model.embeddings.word_embeddings.weight";
  const values = (await readFloatInitializers(join(intact.dir, intact.manifest.graphs.text.file)))
    .get(tensor)!.data.map((v) => v + 1);
  await assertRejects(
    () => writeTunedBundle(intact, dir, new Map([[tensor, values]]), { kind: "tuned" }),
    InputError,
    "hard links",
  );
  assertEquals(await Deno.readFile(outside.path), outside.bytes);
});

Deno.test("a tokenizer vocabulary outside the folder or not listed in the manifest is refused", async () => {
  const dir = await bundleCopy();
  await outsideFile(dir);
  const manifest = await readManifest(dir);
  for (const vocab of ["../outside.bin", "unlisted.txt"]) {
    await Deno.writeTextFile(join(dir, "unlisted.txt"), "[PAD]\n");
    await Deno.writeTextFile(
      join(dir, "manifest.json"),
      JSON.stringify({ ...manifest, tokenizer: { ...manifest.tokenizer, vocab } }),
    );
    const error = await assertRejects(() => loadBundle(dir), InputError, "tokenizer.vocab");
    assertStringIncludes(error.message, vocab);
  }
});
