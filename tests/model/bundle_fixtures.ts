/**
 * Bundles for the verification tests: one nano export per test file, copied per test, and the
 * ways to damage a copy (flip a byte, truncate, point an external-data location elsewhere).
 */
import { dirname, join } from "node:path";
import onnxProto from "onnx-proto";
import { exportBundle } from "../../models/glip/export.ts";
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import type { BundleManifest } from "../../models/bundle.ts";
import { sha256File } from "../../core/hash.ts";

/** Temporary folders made here; removed by {@link removeFixtures}. */
const made: string[] = [];

/** A fresh temporary folder, removed at the end of the test file. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  made.push(dir);
  return dir;
}

let pristine: Promise<string> | undefined;

/** A nano bundle with seeded random weights (exported once per test file). */
function pristineBundle(): Promise<string> {
  pristine ??= (async () => {
    const dir = join(await tempDir("bundle-pristine-"), "bundle");
    await exportBundle({
      architecture: presetArchitecture("nano"),
      configName: "nano",
      weights: new RandomWeights(0),
      outDir: dir,
      source: { kind: "random", seed: 0 },
    });
    return dir;
  })();
  return pristine;
}

/** A copy of the nano bundle at `<fresh temp>/bundle`, beside which `outside.bin` may go. */
export async function bundleCopy(): Promise<string> {
  const source = await pristineBundle();
  const dir = join(await tempDir("bundle-copy-"), "bundle");
  await Deno.mkdir(dir);
  for await (const entry of Deno.readDir(source)) {
    await Deno.copyFile(join(source, entry.name), join(dir, entry.name));
  }
  return dir;
}

/** The bundle's manifest as written. */
export async function readManifest(dir: string): Promise<BundleManifest> {
  return JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
}

/** The text encoder's external data file (relative name): the first file an engine opens. */
export async function textDataFile(dir: string): Promise<string> {
  return (await readManifest(dir)).graphs.text.externalData[0];
}

/** Flips one byte in the middle of a file (same size, new content). */
export async function flipByte(path: string): Promise<void> {
  const bytes = await Deno.readFile(path);
  bytes[bytes.length >> 1] ^= 0xff;
  await Deno.writeFile(path, bytes);
}

/**
 * Rewrites the text graph so that every external-data location is `location`, and records the
 * rewritten graph's digest in the manifest (so only the location check can refuse it).
 */
export async function pointTextGraphAt(dir: string, location: string): Promise<string> {
  const manifest = await readManifest(dir);
  const graphFile = manifest.graphs.text.file;
  const graphPath = join(dir, graphFile);
  const model = onnxProto.onnx.ModelProto.decode(await Deno.readFile(graphPath));
  let tensor = "";
  for (const initializer of model.graph?.initializer ?? []) {
    for (const entry of initializer.externalData ?? []) {
      if (entry.key === "location") {
        entry.value = location;
        tensor ||= initializer.name ?? "";
      }
    }
  }
  await Deno.writeFile(graphPath, onnxProto.onnx.ModelProto.encode(model).finish());
  manifest.sha256[graphFile] = await sha256File(graphPath);
  manifest.sizes![graphFile] = (await Deno.stat(graphPath)).size;
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return tensor;
}

/** `outside.bin` beside the bundle folder: a copy of the text graph's real weights. */
export async function outsideFile(dir: string): Promise<{ path: string; bytes: Uint8Array }> {
  const path = join(dirname(dir), "outside.bin");
  await Deno.copyFile(join(dir, await textDataFile(dir)), path);
  return { path, bytes: await Deno.readFile(path) };
}

// removed when the test file's process ends (tests that failed half-way included)
globalThis.addEventListener("unload", () => {
  for (const dir of made.splice(0)) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  }
});
