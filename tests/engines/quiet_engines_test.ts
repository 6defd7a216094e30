/**
 * onnxruntime-web's log never reaches the user unless asked for: a webgpu run through the CLI
 * writes a handful of lines to stderr (not the thousands of lines of WGSL onnxruntime-web prints
 * with a verbose session), and the private XDG_RUNTIME_DIR the engine makes is removed at exit.
 * Placement detection, which reads that log, keeps working (tests/engines/conformance_test.ts).
 */
import { assert, assertEquals } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { requestAdapter } from "../../engines/ort_web/engine.ts";

const { adapter, reason } = await requestAdapter();
if (!adapter) console.log(`quiet-engine tests skipped: ${reason}`);

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test({
  name: "a two-image webgpu demo run writes at most 30 lines to stderr and leaves no glip-xdg-*",
  ignore: !adapter,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "quiet-engines-" });
    try {
      const tmp = `${root}/tmp`;
      await Deno.mkdir(tmp);
      const result = await runCli([
        "bench",
        "odinw",
        "--demo",
        "--engine",
        "webgpu",
        "--tasks",
        "DemoShapes",
        "--limit",
        "2",
        "--no-report",
        "--out",
        `${root}/out`,
      ], { env: { TMPDIR: tmp, XDG_RUNTIME_DIR: "" } });
      assertEquals(result.code, 0, result.stderr.slice(-4000));
      const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
      assert(
        lines.length <= 30,
        `${lines.length} lines on stderr:\n${lines.slice(0, 40).join("\n").slice(0, 4000)}`,
      );
      assert(!result.stderr.includes("@compute"), "WGSL shader source reached stderr");
      const left = (await entries(tmp)).filter((name) => name.startsWith("glip-xdg-"));
      assertEquals(left, []);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
