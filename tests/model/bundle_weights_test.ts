/**
 * Weights read back from an exported bundle rebuild the same graphs (transposed linear layers,
 * Swin's expanded relative position bias and the BERT embedding rows in use included), and a
 * tuned copy of a bundle changes exactly the tensors it was given.
 */
import { makeTestDir } from "../temp_dir.ts";
import { join } from "node:path";
import { nanoBundle } from "../../benchmarks/models.ts";
import { presetArchitecture } from "../../models/glip/config.ts";
import { buildHeadGraph, buildImageGraph, buildTextGraph } from "../../models/glip/graphs.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import {
  bundleWeights,
  readFloatInitializers,
  writeTunedBundle,
} from "../../models/glip/bundle_weights.ts";
import { assert, assertEquals } from "../assert.ts";

const arch = presetArchitecture("nano");

Deno.test("a bundle's own initializers rebuild its text, image and head graphs byte for byte", async () => {
  const bundle = await nanoBundle(0);
  const builders = {
    text: (w: RandomWeights | Awaited<ReturnType<typeof bundleWeights>>) => buildTextGraph(arch, w),
    image: (w: RandomWeights | Awaited<ReturnType<typeof bundleWeights>>) =>
      buildImageGraph(arch, w),
    head: (w: RandomWeights | Awaited<ReturnType<typeof bundleWeights>>) =>
      buildHeadGraph(arch, w, "decomposed"),
  };
  for (const [graph, build] of Object.entries(builders)) {
    const original = build(new RandomWeights(0)).build().model;
    const rebuilt = build(await bundleWeights(bundle, graph as "text")).build().model;
    assertEquals(rebuilt, original, `${graph} graph`);
  }
});

Deno.test("writeTunedBundle patches every graph holding a tensor and nothing else", async () => {
  const bundle = await nanoBundle(0);
  const out = join(await makeTestDir(), "tuned");
  const name = "rpn.head.dyhead_tower.2.DyConv.1.conv.weight";
  const headFile = join(bundle.dir, bundle.manifest.graphs.head.native!.file);
  const before = await readFloatInitializers(headFile);
  const changed = before.get(name)!.data.map((v) => v + 1);
  const tuned = await writeTunedBundle(bundle, out, new Map([[name, changed]]), {
    kind: "tuned",
    base: "test",
  });
  for (const form of ["native", "decomposed"] as const) {
    const after = await readFloatInitializers(join(out, tuned.manifest.graphs.head[form]!.file));
    assertEquals(after.get(name)!.data, changed, `${form} head`);
    const other = "rpn.head.dyhead_tower.2.DyConv.1.conv.bias";
    assertEquals(after.get(other)!.data, before.get(other)!.data);
  }
  assertEquals(tuned.manifest.source.kind, "tuned");
  assert(
    tuned.manifest.sha256[tuned.manifest.graphs.text.file] ===
      bundle.manifest.sha256[bundle.manifest.graphs.text.file],
    "untouched graphs keep their hash",
  );
});
