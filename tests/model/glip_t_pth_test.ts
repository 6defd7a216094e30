/**
 * GLIP-T at full size from a `.pth` file: the test writes a torch zip checkpoint with random
 * weights under GLIP-T's official key names (plus the int64 buffers official checkpoints carry),
 * exports it with `deno task export --config glip-t`, and runs the three graphs at 800x1344 and
 * 256 tokens in onnxruntime-node. Slow (about two minutes, 3 GB): it runs by default;
 * GLIP_BENCH_SKIP_FULL=1 skips it.
 */
import { assert, assertEquals } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { presetArchitecture } from "../../models/glip/config.ts";
import { buildHeadGraph, buildImageGraph, buildTextGraph } from "../../models/glip/graphs.ts";
import { RandomWeights, type WeightSource } from "../../models/glip/weights.ts";
import { relativePositionIndex } from "../../models/glip/swin.ts";
import { type TensorSpec, writeTorchZipCheckpoint } from "../../models/checkpoint/mod.ts";
import { loadBundle } from "../../models/bundle.ts";
import { onnxEngineFactory } from "../../engines/onnx_node/engine.ts";

const skip = Deno.env.get("GLIP_BENCH_SKIP_FULL") === "1";
if (skip) console.log("GLIP-T .pth test skipped: GLIP_BENCH_SKIP_FULL=1");

/** Records the names and shapes the graphs ask for, handing out zeros. */
class ShapeRecorder implements WeightSource {
  readonly requested = new Map<string, number[]>();
  get(name: string, shape: number[]): Float32Array {
    this.requested.set(name, shape);
    return new Float32Array(shape.reduce((a, b) => a * b, 1));
  }
}

Deno.test({
  name: "a GLIP-T-shaped .pth exports and its three graphs run at full size in onnxruntime-node",
  ignore: skip,
  async fn() {
    const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
    let started = performance.now();
    const arch = presetArchitecture("glip-t");
    const recorder = new ShapeRecorder();
    buildTextGraph(arch, recorder);
    buildImageGraph(arch, recorder);
    buildHeadGraph(arch, recorder, "native");
    const names = [...recorder.requested.keys()];
    assert(names.length > 600, `${names.length} parameters`);
    console.log(`recorded ${names.length} parameter shapes in ${seconds(started)} s`);
    const specs: TensorSpec[] = names.map((name) => ({
      name: `module.${name}`,
      dtype: "float32",
      shape: recorder.requested.get(name)!,
    }));
    // the int64 buffers official GLIP-T checkpoints carry (the exporter does not need them)
    const buffers = names.filter((n) => n.endsWith("attn.relative_position_bias_table"))
      .map((n) => n.replace("relative_position_bias_table", "relative_position_index"));
    for (const name of buffers) {
      specs.push({ name: `module.${name}`, dtype: "int64", shape: [49, 49] });
    }
    const index = relativePositionIndex(7);
    // Random values fast enough for 230M parameters: a table of normals read from a per-tensor
    // offset, scaled by 1/sqrt(fan-in) (norm weights near 1), so activations stay finite.
    const table = new RandomWeights(0).get("table", [1 << 20]);
    const values = (shape: number[], name: string, i: number) => {
      const count = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
      const isNorm = /norm|LayerNorm/.test(name) && name.endsWith(".weight");
      const scale = isNorm ? 0.1 : 1 / Math.sqrt(fanIn);
      const out = new Float32Array(count);
      const start = (i * 7919) & ((1 << 20) - 1);
      for (let k = 0; k < count; k++) {
        out[k] = (isNorm ? 1 : 0) + scale * table[(start + k) & ((1 << 20) - 1)];
      }
      return out;
    };
    const dir = await Deno.makeTempDir({ prefix: "glip-t-pth-" });
    try {
      const pth = `${dir}/glip_t_random.pth`;
      started = performance.now();
      await writeTorchZipCheckpoint(pth, specs, (i) => {
        if (i >= names.length) {
          const ints = BigInt64Array.from(index, (v) => BigInt(v));
          return new Uint8Array(ints.buffer);
        }
        const data = values(specs[i].shape, names[i], i);
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      });
      const pthBytes = (await Deno.stat(pth)).size;
      console.log(
        `wrote ${pth}: ${specs.length} tensors, ${(pthBytes / 2 ** 30).toFixed(2)} GiB in ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s`,
      );
      started = performance.now();
      const exported = await runCli([
        "export",
        "--checkpoint",
        pth,
        "--config",
        "glip-t",
        "--forms",
        "native",
        "--out",
        `${dir}/bundle`,
      ]);
      assertEquals(exported.code, 0, exported.stderr);
      console.log(`export from .pth: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      await Deno.remove(pth);
      started = performance.now();
      const bundle = await loadBundle(`${dir}/bundle`);
      assertEquals(bundle.manifest.configName, "glip-t");
      const engine = await onnxEngineFactory.create(bundle);
      console.log(`bundle loaded, sessions created: ${seconds(started)} s`);
      try {
        const L = bundle.manifest.maxQueryLength;
        assertEquals(L, 256);
        const ids = new Int32Array(L).fill(1012);
        ids[0] = 101;
        ids[L - 1] = 102;
        started = performance.now();
        const text = await engine.encodeText({
          inputIds: ids,
          attentionMask: new Int32Array(L).fill(1),
        });
        console.log(`text encoder: ${seconds(started)} s`);
        started = performance.now();
        const image = await engine.encodeImage({
          data: Float32Array.from({ length: 3 * 800 * 1344 }, (_, i) => Math.sin(i / 97)),
          height: 800,
          width: 1344,
        });
        console.log(`image backbone: ${seconds(started)} s`);
        started = performance.now();
        const head = await engine.runHead(image, text);
        console.log(`head: ${seconds(started)} s`);
        assertEquals(head.levels.map((l) => [l.height, l.width]), [
          [100, 168],
          [50, 84],
          [25, 42],
          [13, 21],
          [7, 11],
        ]);
        for (const level of head.levels) {
          assertEquals(level.tokenLogits!.length, level.height * level.width * L);
          assert(level.tokenLogits!.every(Number.isFinite), "finite token logits");
          assert(level.bboxRegression.every(Number.isFinite), "finite box regression");
        }
        text.dispose();
        image.dispose();
      } finally {
        await engine.dispose();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
