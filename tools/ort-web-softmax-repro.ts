/**
 * Minimal reproduction: onnxruntime-web's WebGPU Softmax is wrong past the storage-buffer
 * binding limit. Builds a one-node ONNX model (Softmax over the last axis of a [1, 8, 17188, 256]
 * float32 tensor, 140.8 MB, 4.9% past 128 MiB), runs it on onnxruntime-web's WebGPU and wasm
 * execution providers with the same input, and reports where they differ.
 *
 * The WebGPU device is requested with WebGPU's default limits (maxStorageBufferBindingSize
 * 128 MiB), so the fault shows on any GPU, not only on adapters whose maximum is 128 MiB.
 *
 * Self-contained (no project imports): `deno run -A tools/ort-web-softmax-repro.ts [--version V]`
 * Exit 0: WebGPU matches wasm (the fault is gone). Exit 1: the fault is present. Exit 2: no
 * WebGPU adapter.
 *
 * @module
 */
import onnxProto from "npm:onnx-proto@8.0.1";
import * as ort from "npm:onnxruntime-web@1.30.0/webgpu";

const { onnx } = onnxProto;
const DIMS = [1, 8, 17188, 256];
const COUNT = DIMS.reduce((a, b) => a * b, 1);
const ROW = DIMS[3];

/** The one-node model: y = Softmax(x, axis=-1), opset 19. */
function softmaxModel(): Uint8Array {
  const tensorType = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: { elemType: 1, shape: { dim: DIMS.map((d) => ({ dimValue: d })) } },
      },
    });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 19 }],
    graph: {
      name: "softmax",
      node: [{
        opType: "Softmax",
        input: ["x"],
        output: ["y"],
        attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: -1 }],
      }],
      input: [tensorType("x")],
      output: [tensorType("y")],
    },
  })).finish();
}

const adapter = await navigator.gpu?.requestAdapter();
if (!adapter) {
  console.error("no WebGPU adapter (on Linux without a GPU: apt-get install mesa-vulkan-drivers)");
  Deno.exit(2);
}
const device = await adapter.requestDevice(); // default limits: 128 MiB per binding
const model = softmaxModel();
// deterministic input in [-4, 4)
const x = new Float32Array(COUNT);
let state = 12345;
for (let i = 0; i < COUNT; i++) {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  x[i] = (state / 2 ** 32) * 8 - 4;
}
async function run(executionProviders: unknown[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: executionProviders as string[],
  });
  const out = await session.run({ x: new ort.Tensor("float32", x, DIMS) });
  const data = (await out.y.getData()) as Float32Array;
  await session.release();
  return data;
}
const webgpu = await run([{ name: "webgpu", device }]);
const wasm = await run(["wasm"]);
let firstWrong = -1;
let wrong = 0;
let maxAbs = 0;
for (let i = 0; i < COUNT; i++) {
  const diff = Math.abs(webgpu[i] - wasm[i]);
  maxAbs = Math.max(maxAbs, Number.isNaN(diff) ? Infinity : diff);
  if (!(diff <= 1e-6)) {
    wrong++;
    if (firstWrong < 0) firstWrong = i;
  }
}
// each row of softmax sums to 1 on a correct engine
let worstRowSum = 0;
for (let r = 0; r < COUNT / ROW; r++) {
  let sum = 0;
  for (let j = 0; j < ROW; j++) sum += webgpu[r * ROW + j];
  worstRowSum = Math.max(worstRowSum, Math.abs(sum - 1));
}
console.log(
  `onnxruntime-web ${ort.env.versions.web}, adapter: ${
    adapter.info.description || adapter.info.device || adapter.info.vendor
  }, device maxStorageBufferBindingSize ${device.limits.maxStorageBufferBindingSize} bytes`,
);
console.log(`Softmax(axis=-1) of float32 [${DIMS}] (${COUNT * 4} bytes), WebGPU vs wasm:`);
console.log(`  max abs difference ${maxAbs}; worst |row sum - 1| on WebGPU ${worstRowSum}`);
if (wrong === 0) {
  console.log("  WebGPU matches wasm: the fault is not present.");
  Deno.exit(0);
}
console.log(
  `  ${wrong} of ${COUNT} values differ by more than 1e-6 (${
    (100 * wrong / COUNT).toFixed(1)
  }%), the first at element ${firstWrong} (byte ${firstWrong * 4}).`,
);
Deno.exit(1);
