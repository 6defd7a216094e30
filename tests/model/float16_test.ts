/**
 * The fp16 conversion used by the webgpu engine's `--dtype fp16`: float weights (inline and
 * external) become float16, int64 tensors keep their bytes, the interface stays float32, and
 * Pad and Clip run in float32 between Casts.
 */
import { assert, assertEquals } from "../assert.ts";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { GraphBuilder } from "../../models/graph/builder.ts";
import { toFloat16Model } from "../../models/graph/float16.ts";

const { onnx } = onnxProto;

function tinyGraph() {
  const g = new GraphBuilder("fp16-demo");
  const x = g.input("x", "float32", [1, 64]);
  const w = g.weight("w", Float32Array.from({ length: 64 }, (_, i) => i / 64 - 0.5), [1, 64]);
  const big = g.weight("big", Float32Array.from({ length: 4096 }, (_, i) => (i % 7) / 8), [64, 64]);
  const pads = g.ints([0, 1, 0, 1]);
  // a large int64 tensor in the external data keeps its bytes (Gather indices 0..1023)
  const indices = g.constant(
    BigInt64Array.from({ length: 1024 }, (_, i) => BigInt(i % 64)),
    [1024],
    "int64",
  );
  const y = g.op("Add", [g.op("MatMul", [x, big]), w]);
  const clipped = g.op("Clip", [
    y,
    g.weight("lo", new Float32Array([-1]), []),
    g.weight("hi", new Float32Array([1]), []),
  ]);
  g.output(g.op("Pad", [clipped, pads]), "y");
  g.output(g.op("Gather", [g.op("Reshape", [w, g.ints([64])]), indices], { axis: 0 }), "z");
  return g.build({ externalDataFile: "w.bin" });
}

Deno.test("toFloat16Model() converts weights, keeps int64 bytes and the float32 interface", async () => {
  const built = tinyGraph();
  const { model, externalData } = toFloat16Model(built.model, [{
    path: "w.bin",
    data: built.externalData!,
  }]);
  const decoded = onnx.ModelProto.decode(model);
  const byName = new Map(decoded.graph!.initializer!.map((t) => [t.name!, t]));
  assertEquals(byName.get("w")!.dataType, 10);
  assertEquals(byName.get("big")!.dataType, 10);
  assert(
    decoded.graph!.initializer!.filter((t) => t.dataType === 7).length >= 2,
    "int64 tensors stay int64",
  );
  assertEquals(decoded.graph!.input![0].type!.tensorType!.elemType, 1);
  const ops = decoded.graph!.node!.map((n) => n.opType);
  assertEquals(ops[0], "Cast");
  assertEquals(ops.at(-1), "Cast");
  const pad = decoded.graph!.node!.findIndex((n) => n.opType === "Pad");
  assertEquals(decoded.graph!.node![pad - 1].opType, "Cast", "Pad reads float32");
  assertEquals(decoded.graph!.node![pad + 1].opType, "Cast", "and writes back float16");
  // the fp16 model runs and stays within half precision of the fp32 one
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const run = async (bytes: Uint8Array, data: { path: string; data: Uint8Array }[]) => {
    const session = await ort.InferenceSession.create(bytes, { externalData: data } as never);
    const out = await session.run({ x: new ort.Tensor("float32", x, [1, 64]) });
    await session.release();
    return { y: out.y.data as Float32Array, z: out.z.data as Float32Array };
  };
  const { y: full, z: gathered } = await run(built.model, [{
    path: "w.bin",
    data: built.externalData!,
  }]);
  const { y: half, z: halfGathered } = await run(model, externalData);
  assertEquals(half.length, 66);
  assertEquals(halfGathered.length, 1024);
  for (let i = 0; i < 1024; i++) {
    assert(
      Math.abs(halfGathered[i] - gathered[i]) < 1e-3,
      `z[${i}]: ${halfGathered[i]} vs ${gathered[i]}`,
    );
  }
  let maxError = 0;
  for (let i = 0; i < full.length; i++) maxError = Math.max(maxError, Math.abs(full[i] - half[i]));
  assert(maxError > 0 && maxError < 1e-2, `max error ${maxError}`);
});
