/**
 * The backbones' vector-Jacobian graphs for full-model tuning, recomputed by segments (Swin
 * blocks, BERT layers), return the weight gradients of the one-graph vector-Jacobian graph on
 * the nano model, with the weights full-model tuning trains.
 */
import * as ort from "onnxruntime-node";
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import { recomputingVjpStep, vjpGraph } from "../../models/train/backbone_graphs.ts";
import { fullTuningTrains } from "../../models/train/full_tuner.ts";
import { onnxRuntime } from "../../models/train/runtime.ts";
import { inferStaticShapes } from "../../models/graph/static_shapes.ts";
import { assert, assertEquals } from "../assert.ts";
import { randomData } from "../autodiff/gradcheck.ts";

for (const which of ["image", "text"] as const) {
  Deno.test(`recomputed ${which} vector-Jacobian equals the one-graph one on nano`, async () => {
    const arch = presetArchitecture("nano");
    const weights = new RandomWeights(7);
    const T = arch.maxQueryLength;
    const inputDims: Record<string, number[]> = which === "image" ? { image: [1, 3, 64, 96] } : {};
    const plain = vjpGraph(which, arch, weights, fullTuningTrains, inputDims);
    const shapes = inferStaticShapes(plain.graph, inputDims);
    const feeds: Record<string, ort.Tensor> = {};
    let seed = 30;
    for (const input of plain.graph.inputs) {
      const dims = shapes.get(input.name)!.dims;
      const count = dims.reduce((a, b) => a * b, 1);
      const trained = plain.trainable.find((t) => t.value.name === input.name);
      if (trained) feeds[input.name] = new ort.Tensor("float32", trained.initial, dims);
      else if (input.dtype === "int64") {
        const ids = BigInt64Array.from({ length: count }, (_, k) => BigInt(k < 10 ? 100 + k : 0));
        feeds[input.name] = new ort.Tensor("int64", ids, dims);
      } else feeds[input.name] = new ort.Tensor("float32", randomData(count, seed++), dims);
    }
    if (which === "text") {
      feeds.attention_mask = new ort.Tensor(
        "int64",
        new BigInt64Array(T).fill(1n, 0, 10),
        [1, T],
      );
    }
    const session = await onnxRuntime().create(plain.graph.build().model);
    const expected = await session.run(feeds);
    await session.release();
    const step = await recomputingVjpStep(which, arch, weights, fullTuningTrains, inputDims, {
      everyLayer: true,
      memoryBudgetBytes: 2 ** 40,
    });
    try {
      assert(step.plan.segments.length > 2, `${step.plan.segments.length} segments`);
      const actual = await step.run(feeds);
      // the one graph also returns the backbone's own outputs; the step reads the gradients
      const gradients = Object.keys(expected).filter((name) => name.startsWith("grad/"));
      assertEquals(Object.keys(actual).sort(), gradients.sort());
      for (const name of gradients) {
        const a = actual[name].data as Float32Array, e = expected[name].data as Float32Array;
        let diff = 0, scale = 0;
        for (let k = 0; k < e.length; k++) {
          diff = Math.max(diff, Math.abs(a[k] - e[k]));
          scale = Math.max(scale, Math.abs(e[k]));
        }
        // float32 rounding (the segment graphs may get other kernels than the one graph), with
        // an absolute floor: BERT's key biases have a zero gradient in exact arithmetic (softmax
        // ignores a shift shared by all keys), so both graphs return rounding noise of ~5e-6
        assert(diff <= 1e-5 * scale + 1e-5, `${name}: differs by ${diff} at scale ${scale}`);
      }
    } finally {
      await step.release();
    }
  });
}
