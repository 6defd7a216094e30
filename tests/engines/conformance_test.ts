/**
 * Every engine, plugin engines included, matches onnxruntime-node CPU on the nano model. GPU
 * tests skip with a printed reason only where no WebGPU adapter exists (CI has lavapipe).
 */
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { checkConformance } from "../../engines/conformance.ts";
import { onnxEngineFactory } from "../../engines/onnx_node/engine.ts";
import {
  CpuFallbackError,
  requestAdapter,
  wasmEngineFactory,
  webgpuEngineFactory,
} from "../../engines/ort_web/engine.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import { loadBundle } from "../../models/bundle.ts";
import { MissingCapabilityError } from "../../engines/engine.ts";
import { engines, registerBuiltins } from "../../core/registries.ts";
import { loadPlugin } from "../../core/plugin_api.ts";

const bundle = await nanoBundle(0);
const { adapter, reason } = await requestAdapter();
if (!adapter) console.log(`WebGPU tests skipped: ${reason}`);

Deno.test("conformance: onnx (threads 1) matches onnx", async () => {
  const report = await checkConformance(onnxEngineFactory, bundle, { threads: 1 });
  assertEquals(report.failures, []);
  assert(report.detections.reference > 0);
});

Deno.test("conformance: wasm matches onnxruntime-node CPU", async () => {
  const report = await checkConformance(wasmEngineFactory, bundle);
  assertEquals(report.failures, [], JSON.stringify(report));
});

Deno.test("conformance: a plugin engine (onnx-1thread from the example plugin) passes", async () => {
  registerBuiltins();
  await loadPlugin("tests/fixtures/plugins/example_plugin.ts");
  const factory = await engines.get("onnx-1thread");
  const report = await checkConformance(factory, bundle);
  assertEquals(report.failures, []);
});

Deno.test({
  name: "conformance: webgpu matches onnxruntime-node CPU (token logits within 1e-3)",
  ignore: !adapter,
  async fn() {
    const report = await checkConformance(webgpuEngineFactory, bundle);
    assertEquals(report.failures, [], JSON.stringify(report));
    // the WGSL candidate reduction gives exactly the dense path's detections
    assertEquals(report.deviceReductionIdentical, true);
    assert(report.detections.engine > 0, "the comparison covers detections");
  },
});

Deno.test({
  name: "conformance: webgpu in fp16 (shader-f16) matches onnxruntime-node CPU within 2e-2",
  ignore: !adapter || !adapter.features.has("shader-f16"),
  async fn() {
    const report = await checkConformance(webgpuEngineFactory, bundle, { dtype: "fp16" });
    assertEquals(report.failures, [], JSON.stringify(report));
    // fp32 WebGPU differs from the CPU by about 1e-5; half precision shows as more than 1e-4
    assert(report.maxAbsError.tokenLogits > 1e-4, "the fp16 graphs really ran in half precision");
    assertEquals(report.deviceReductionIdentical, true);
  },
});

Deno.test({
  name: "webgpu detects a CPU fallback from the placement log instead of running it silently",
  ignore: !adapter,
  async fn() {
    // A bundle whose 'decomposed' head is really the native one: its DeformConv nodes have no
    // WebGPU kernel, so ORT places them on the CPU.
    const dir = await makeTestDir();
    for await (const entry of Deno.readDir(bundle.dir)) {
      await Deno.copyFile(`${bundle.dir}/${entry.name}`, `${dir}/${entry.name}`);
    }
    const manifest = structuredClone(bundle.manifest);
    manifest.graphs.head.decomposed = manifest.graphs.head.native;
    await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(manifest));
    const tampered = await loadBundle(dir);
    const error = await assertRejects(() => webgpuEngineFactory.create(tampered), CpuFallbackError);
    assert(error.message.includes("DeformConv"), error.message);
    const reported = await webgpuEngineFactory.create(tampered, { allowCpuFallback: true });
    const nodes = reported.describe().cpuFallbackNodes ?? [];
    await reported.dispose();
    assert(nodes.some((node) => node.includes("DeformConv")), JSON.stringify(nodes));
  },
});

Deno.test("onnx refuses a missing CUDA provider with how to install it", async () => {
  await assertRejects(
    () => onnxEngineFactory.create(bundle, { executionProvider: "cuda" }),
    MissingCapabilityError,
    "ONNXRUNTIME_NODE_INSTALL=cuda12",
  );
});

Deno.test("auto picks onnx on the CPU here and records why it skipped CUDA and WebGPU", async () => {
  const { autoEngineFactory, softwareAdapterReason } = await import("../../engines/auto.ts");
  const hardwareGpu = adapter && !softwareAdapterReason(adapter.info);
  const engine = await autoEngineFactory.create(bundle, { threads: 1 });
  const description = engine.describe();
  await engine.dispose();
  assertEquals(description.selection?.chosen, hardwareGpu ? "webgpu" : "onnx (cpu)");
  assertEquals(
    description.selection?.skipped.map((s) => s.engine),
    hardwareGpu ? ["onnx (cuda)"] : ["onnx (cuda)", "webgpu"],
  );
  const report = await checkConformance(autoEngineFactory, bundle, { threads: 1 });
  assertEquals(report.failures, []);
});

Deno.test("wasm runs with several threads (the blob-URL worker shim) and still conforms", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `
      import { wasmEngineFactory } from "./engines/ort_web/engine.ts";
      import { checkConformance } from "./engines/conformance.ts";
      import { nanoBundle } from "./benchmarks/models.ts";
      const bundle = await nanoBundle(0);
      const report = await checkConformance(wasmEngineFactory, bundle, { threads: 2 });
      const engine = await wasmEngineFactory.create(bundle, { threads: 2 });
      console.log(JSON.stringify({ failures: report.failures, threads: engine.describe().threads }));
      await engine.dispose();
      Deno.exit(0);
    `,
    ],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  });
  const output = await command.output();
  const text = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!;
  assertEquals(
    JSON.parse(text),
    { failures: [], threads: 2 },
    new TextDecoder().decode(output.stderr),
  );
});
