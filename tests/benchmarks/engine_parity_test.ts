/**
 * The demo on onnxruntime-node and on WebGPU in one `bench` run: the engines agree within
 * 0.001 AP per task and the report shows their parity; and onnxruntime-web's log never reaches
 * the user unless asked for (a handful of lines on stderr, not the thousands of lines of WGSL a
 * verbose session prints) while the private XDG_RUNTIME_DIR the engine makes is removed at exit.
 * Placement detection, which reads that log, keeps working (tests/engines/conformance_test.ts).
 *
 * Both tests read the same run: on a software GPU (lavapipe) the WebGPU run is the slow part.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { type CliResult, runCli } from "../cli_helpers.ts";
import { makeTestDir } from "../temp_dir.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { requestAdapter } from "../../engines/ort_web/engine.ts";

const { adapter, reason } = await requestAdapter();
if (!adapter) console.log(`WebGPU bench parity and quiet-engine tests skipped: ${reason}`);

/** What the shared run left: its CLI result, run folder and private temp folder. */
interface ParityRun {
  result: CliResult;
  out: string;
  tmp: string;
}

let shared: Promise<ParityRun> | undefined;

/**
 * `bench odinw --demo --engine onnx,webgpu --limit 2`, run once for this module, with its own
 * temp folder and no XDG_RUNTIME_DIR (as on a CI machine), so the engine makes a private one.
 */
function parityRun(): Promise<ParityRun> {
  shared ??= (async () => {
    const root = await makeTestDir({ prefix: "bench-parity-" });
    const tmp = join(root, "tmp");
    await Deno.mkdir(tmp);
    const out = join(root, "out");
    // Two images per task keep the software GPU (lavapipe) run short.
    const result = await runCli(
      ["bench", "odinw", "--demo", "--engine", "onnx,webgpu", "--limit", "2", "--out", out],
      { env: { TMPDIR: tmp, XDG_RUNTIME_DIR: "" } },
    );
    return { result, out, tmp };
  })();
  return shared;
}

Deno.test({
  name: "bench odinw on the demo: onnx and webgpu agree within 0.001 AP per task",
  ignore: !adapter,
  async fn() {
    const { result, out } = await parityRun();
    assertEquals(result.code, 0, result.stderr.slice(-4000));
    const onnx = await readRunRecord(join(out, "nano-demo__onnx", "run.json"));
    const webgpu = await readRunRecord(join(out, "nano-demo__webgpu", "run.json"));
    assertEquals(webgpu.engine.executionProvider, "webgpu");
    assertEquals(onnx.tasks.map((t) => t.name), ["DemoShapes", "DemoColors"]);
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

Deno.test({
  name: "a two-image webgpu demo run writes at most 30 lines to stderr and leaves no glip-xdg-*",
  ignore: !adapter,
  async fn() {
    // The run is onnx and webgpu, two tasks, and the report: everything it writes counts.
    const { result, tmp } = await parityRun();
    assertEquals(result.code, 0, result.stderr.slice(-4000));
    const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
    assert(
      lines.length <= 30,
      `${lines.length} lines on stderr:\n${lines.slice(0, 40).join("\n").slice(0, 4000)}`,
    );
    assert(!result.stderr.includes("@compute"), "WGSL shader source reached stderr");
    const left: string[] = [];
    for await (const entry of Deno.readDir(tmp)) {
      if (entry.name.startsWith("glip-xdg-")) left.push(entry.name);
    }
    assertEquals(left, []);
  },
});
