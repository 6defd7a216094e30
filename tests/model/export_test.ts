import { makeTestDir } from "../temp_dir.ts";
import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "../assert.ts";
import { presetArchitecture } from "../../models/glip/config.ts";
import { buildHeadGraph, buildImageGraph, buildTextGraph } from "../../models/glip/graphs.ts";
import { CheckpointWeights, RandomWeights, WeightError } from "../../models/glip/weights.ts";
import { runCli } from "../cli_helpers.ts";
import { loadBundle } from "../../models/bundle.ts";
import { UsageError } from "../../core/errors.ts";

function weightsLike(seed: number) {
  const arch = presetArchitecture("nano");
  const random = new RandomWeights(seed);
  buildTextGraph(arch, random);
  buildImageGraph(arch, random);
  buildHeadGraph(arch, random, "native");
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of random.requested) {
    values.set(name, { shape, data: random.get(name, shape) });
  }
  return { arch, values };
}

Deno.test("a checkpoint with a missing tensor fails naming the tensor", () => {
  const { arch, values } = weightsLike(1);
  values.delete("rpn.head.bbox_pred.weight");
  const error = assertThrows(
    () => buildHeadGraph(arch, CheckpointWeights.fromMap("ckpt.pth", values), "native"),
    WeightError,
  );
  assertStringIncludes(error.message, "ckpt.pth: tensor rpn.head.bbox_pred.weight is missing");
});

Deno.test("a checkpoint with a misshapen tensor fails naming the tensor and both shapes", () => {
  const { arch, values } = weightsLike(1);
  values.set("backbone.fpn.fpn_inner3.weight", {
    shape: [64, 32, 1, 1],
    data: new Float32Array(64 * 32),
  });
  const error = assertThrows(
    () => buildImageGraph(arch, CheckpointWeights.fromMap("ckpt.pth", values)),
    WeightError,
  );
  assertStringIncludes(
    error.message,
    "tensor backbone.fpn.fpn_inner3.weight has shape [64,32,1,1], expected [64,64,1,1]",
  );
});

Deno.test("random weights are deterministic per seed and name", () => {
  const a = new RandomWeights(0).get("x.weight", [3, 4]);
  const b = new RandomWeights(0).get("x.weight", [3, 4]);
  const c = new RandomWeights(1).get("x.weight", [3, 4]);
  assertEquals([...a], [...b]);
  assertEquals([...a].join() === [...c].join(), false);
});

Deno.test("deno task export --config nano --seed 0 writes a loadable bundle with both head forms", async () => {
  const dir = await makeTestDir();
  const result = await runCli(["export", "--config", "nano", "--seed", "0", "--out", dir]);
  assertEquals(result.code, 0, result.stderr);
  const bundle = await loadBundle(dir);
  assertEquals(Object.keys(bundle.manifest.graphs.head).sort(), ["decomposed", "native"]);
  assertEquals(bundle.manifest.source, { kind: "random", seed: 0 });
  for (const file of Object.keys(bundle.manifest.sha256)) {
    assertEquals(bundle.manifest.sha256[file].length, 64);
  }
});

Deno.test("deno task export rejects an unknown preset with a suggestion", async () => {
  const result = await runCli(["export", "--config", "glip-tt", "--seed", "0", "--out", "/tmp/x"]);
  assertEquals(result.code, 2);
  assertStringIncludes(result.stderr, "Did you mean 'glip-t'");
});

Deno.test("loadBundle() explains a folder that is not a bundle", async () => {
  const dir = await makeTestDir();
  await assertRejects(() => loadBundle(dir), Error, "export one with 'deno task export'");
});

Deno.test("presetArchitecture() throws a usage error for unknown names", () => {
  assertThrows(() => presetArchitecture("nope"), UsageError);
});
