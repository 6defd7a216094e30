/**
 * `bench --check-parity` on a webgpu fp16 run checks fp16 against the fp32 reference at the
 * fp16 tolerance, and records it so. One small WebGPU case (lavapipe is slow: shader
 * compilation dominates); it skips, saying why, without an adapter with shader-f16.
 */
import { assert, assertEquals } from "../assert.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import { checkRunParity } from "../../benchmarks/bench_parity.ts";
import { FP16_TOLERANCE } from "../../engines/parity.ts";
import { worstByGraph } from "../../benchmarks/parity_record.ts";
import { requestAdapter } from "../../engines/ort_web/engine.ts";

const { adapter, reason } = await requestAdapter();
const f16 = adapter?.features.has("shader-f16") ?? false;
if (!f16) {
  console.log(
    `webgpu fp16 parity test skipped: ${adapter ? "the adapter has no shader-f16" : reason}`,
  );
}

Deno.test({
  name: "a webgpu fp16 run's parity check compares with the fp32 reference at the fp16 tolerance",
  ignore: !f16,
  async fn() {
    const bundle = await nanoBundle(0);
    const check = await checkRunParity({
      bundle,
      engineName: "webgpu",
      description: {
        engine: "webgpu",
        executionProvider: "webgpu",
        libraries: {},
        device: "test",
        dtype: "fp16",
        deformConv: "native",
      },
      dtype: "fp16",
      size: { height: 96, width: 128 },
    });
    assertEquals([check.role, check.dtype, check.tolerance], ["checked", "fp16", FP16_TOLERANCE]);
    assertEquals(check.reference.description, "onnxruntime-node CPU (fp32)");
    assertEquals([check.ok, check.failures, check.notExposed], [true, [], []]);
    assertEquals(check.outputs.length, 21);
    // half precision shows in every part (fp32 engines stay near 1e-6 of the reference's
    // scale), and passes only at the fp16 tolerance: the head's worst is above fp32's 1e-3
    const worst = worstByGraph(check);
    for (const graph of ["text", "image", "head"] as const) {
      assert(worst[graph]! > 1e-4, `${graph}: ${worst[graph]}`);
    }
    assert(worst.head! > 1e-3, `head: ${worst.head}`);
    assert(check.detections!.matched >= check.detections!.required, JSON.stringify(check));
  },
});
