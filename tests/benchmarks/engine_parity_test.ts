import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals } from "../assert.ts";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { requestAdapter } from "../../engines/ort_web/engine.ts";

const { adapter, reason } = await requestAdapter();
if (!adapter) console.log(`WebGPU bench parity skipped: ${reason}`);

Deno.test({
  name: "bench odinw on the demo: onnx and webgpu agree within 0.001 AP per task",
  ignore: !adapter,
  async fn() {
    const out = await makeTestDir({ prefix: "bench-parity-" });
    // Two images per task keep the software GPU (lavapipe) run short.
    const result = await runCli([
      "bench",
      "odinw",
      "--demo",
      "--engine",
      "onnx,webgpu",
      "--limit",
      "2",
      "--out",
      out,
    ]);
    assertEquals(result.code, 0, result.stderr);
    const onnx = await readRunRecord(join(out, "nano-demo__onnx", "run.json"));
    const webgpu = await readRunRecord(join(out, "nano-demo__webgpu", "run.json"));
    assertEquals(webgpu.engine.executionProvider, "webgpu");
    for (const task of onnx.tasks) {
      const other = webgpu.tasks.find((t) => t.name === task.name)!;
      const delta = Math.abs(task.result!.headline - other.result!.headline);
      assert(
        delta <= 0.001,
        `${task.name}: onnx ${task.result!.headline} vs webgpu ${other.result!.headline}`,
      );
    }
    const compare = await Deno.readTextFile(join(out, "report", "compare.html"));
    assert(compare.includes("Engine parity"));
  },
});
