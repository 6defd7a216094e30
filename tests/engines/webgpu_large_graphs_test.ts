/**
 * The webgpu engine's defences against onnxruntime-web kernels that break past the storage-buffer
 * binding limit: Softmax is decomposed into ops correct at any size, and a node with a tensor
 * past the adapter's limit whose op type is not verified is refused before it runs, by name.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { GraphBuilder } from "../../models/graph/builder.ts";
import { decomposeSoftmax } from "../../engines/ort_web/softmax.ts";
import { OpSizeAudit, OpSizeError } from "../../engines/ort_web/op_size_audit.ts";
import { requestAdapter, webgpuEngineFactory } from "../../engines/ort_web/engine.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import { SeededRandom } from "../../models/glip/weights.ts";
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
const { adapter, reason } = await requestAdapter();
if (!adapter) console.log(`webgpu large-graph tests skipped: ${reason}`);

const MIB = 2 ** 20;

function softmaxModel(axis: number, opset = 19): Uint8Array {
  const g = new GraphBuilder("softmax", opset);
  const x = g.input("x", "float32", [2, 3, 5, 7]);
  g.output(g.op("Relu", [g.op("Softmax", [x], { axis })]), "y");
  return g.build().model;
}

Deno.test("decomposeSoftmax() replaces every Softmax and matches it within float32 rounding", async () => {
  const ort = await import("onnxruntime-node");
  const random = new SeededRandom(5);
  const data = Float32Array.from({ length: 210 }, () => 8 * random.normal());
  for (const axis of [-1, 1, 3]) {
    const plain = softmaxModel(axis);
    const { model, rewritten } = decomposeSoftmax(plain);
    assertEquals(rewritten, 1);
    const ops = onnx.ModelProto.decode(model).graph!.node!.map((n) => n.opType);
    assertEquals(ops, ["ReduceMax", "Sub", "Exp", "ReduceSum", "Div", "Relu", "Identity"]);
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ x: new ort.Tensor("float32", data, [2, 3, 5, 7]) });
      await session.release();
      return out.y.data as Float32Array;
    };
    const expected = await run(plain);
    const actual = await run(model);
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - actual[i])));
    assert(worst <= 1e-6, `axis ${axis}: max abs difference ${worst}`);
  }
});

Deno.test("decomposeSoftmax({ float32 }) computes between Casts to float32 and back to float16", () => {
  const { model } = decomposeSoftmax(softmaxModel(-1), { float32: true });
  const nodes = onnx.ModelProto.decode(model).graph!.node!;
  assertEquals(nodes.map((n) => n.opType).slice(0, 7), [
    "Cast",
    "ReduceMax",
    "Sub",
    "Exp",
    "ReduceSum",
    "Div",
    "Cast",
  ]);
  assertEquals([nodes[0].attribute![0].i, nodes[6].attribute![0].i].map(Number), [1, 10]);
  // the last Cast writes the Softmax's own output, which Relu reads
  assertEquals(nodes[6].output, nodes[7].input);
});

Deno.test("decomposeSoftmax() leaves a model without Softmax untouched and refuses opset < 13", () => {
  const g = new GraphBuilder("relu");
  g.output(g.op("Relu", [g.input("x", "float32", [4])]), "y");
  const model = g.build().model;
  assertEquals(decomposeSoftmax(model), { model, rewritten: 0 });
  assertThrows(() => decomposeSoftmax(softmaxModel(-1, 12)), RangeError, "opset 12");
});

/** x [1, 8, rows, 256] -> MatMul -> Softmax -> Erf: the scores are the large tensors. */
function attentionModel(): Uint8Array {
  const g = new GraphBuilder("attention");
  const q = g.input("q", "float32", [1, 8, "N", 32]);
  const k = g.input("k", "float32", [1, 8, 32, 256]);
  const scores = g.op("MatMul", [q, k]);
  g.output(g.op("Erf", [g.op("Softmax", [scores], { axis: -1 })]), "y");
  return decomposeSoftmax(g.build().model).model;
}

Deno.test("OpSizeAudit sizes every node statically and names those past the limit", () => {
  const audit = new OpSizeAudit("attention.onnx", attentionModel());
  const dims = (rows: number) => ({ q: [1, 8, rows, 32], k: [1, 8, 32, 256] });
  assertEquals(audit.largeNodes(dims(1000), 128 * MIB), []);
  // 22400 rows: the [1, 8, 22400, 256] scores are 175 MiB, as in GLIP-T's fusion at 800x1344
  const large = audit.largeNodes(dims(22400), 128 * MIB);
  assertEquals(large.map((n) => n.op), [
    "MatMul",
    "ReduceMax",
    "Sub",
    "Exp",
    "ReduceSum",
    "Div",
    "Erf",
    "Identity",
  ]);
  assertEquals(large[0].dims, [1, 8, 22400, 256]);
  assertEquals(large[0].bytes, 8 * 22400 * 256 * 4);
});

Deno.test("OpSizeAudit.check() refuses an unverified large op type, naming node, size and limit", () => {
  const audit = new OpSizeAudit("attention.onnx", attentionModel());
  const dims = { q: [1, 8, 22400, 32], k: [1, 8, 32, 256] };
  const verified = ["MatMul", "ReduceMax", "Sub", "Exp", "ReduceSum", "Div", "Identity"];
  const error = assertThrows(() => audit.check(dims, 128 * MIB, verified), OpSizeError);
  for (
    const part of [
      "attention.onnx",
      "(Erf)",
      "175.0 MiB",
      "[1,8,22400,256]",
      "maxStorageBufferBindingSize of 128.0 MiB (134217728 bytes)",
    ]
  ) assert(error.message.includes(part), `${part} missing from: ${error.message}`);
  // verified op types, a larger limit, or a small input pass
  audit.check(dims, 128 * MIB, [...verified, "Erf"]);
  audit.check(dims, 256 * MIB, verified);
  audit.check({ q: [1, 8, 100, 32], k: [1, 8, 32, 256] }, 128 * MIB, verified);
});

Deno.test("OpSizeAudit names Conv by kernel size (1x1 and 3x3 run different shaders)", () => {
  const g = new GraphBuilder("conv");
  const x = g.input("x", "float32", [1, 16, 1500, 1500]);
  const w1 = g.weight("w1", new Float32Array(16 * 16), [16, 16, 1, 1]);
  const w3 = g.weight("w3", new Float32Array(16 * 16 * 9), [16, 16, 3, 3]);
  g.output(g.op("Conv", [g.op("Conv", [x, w1]), w3], { pads: [1, 1, 1, 1] }), "y");
  const audit = new OpSizeAudit("conv.onnx", g.build().model);
  const ops = audit.largeNodes({ x: [1, 16, 1500, 1500] }, 128 * MIB).map((n) => n.op);
  assertEquals(ops, ["Conv 1x1", "Conv 3x3", "Identity"]);
});

Deno.test({
  name: "webgpu refuses an image size with a large node of an unverified op type, before computing",
  ignore: !adapter,
  async fn() {
    const bundle = await nanoBundle(0);
    const engine = await webgpuEngineFactory.create(bundle);
    try {
      // 3 x 3360 x 3360 float32 is 129.2 MiB: the patch-embedding Conv 4x4 reads it
      const size = 3360;
      const image = { data: new Float32Array(3 * size * size), height: size, width: size };
      const limit = engine.describe().adapter?.maxStorageBufferBindingSize as number;
      if (limit > 3 * size * size * 4) {
        console.log(`  skipped: the adapter binds ${limit} bytes, more than this image`);
        return;
      }
      const error = await assertRejects(() => engine.encodeImage(image), OpSizeError);
      for (const part of ["image_backbone.onnx", "(Conv 4x4)", "129.2 MiB", `(${limit} bytes)`]) {
        assert(error.message.includes(part), `${part} missing from: ${error.message}`);
      }
    } finally {
      await engine.dispose();
    }
  },
});
