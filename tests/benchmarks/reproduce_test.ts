/**
 * `bench --reproduce RUN/run.json` reruns what a record says it ran and compares: the demo's run
 * reproduces exactly (CPU engine); a tampered detections file or record is not reproduced
 * (exit 3); a record that does not say what produced it, or points outside its folder, is refused.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { runBenchmark } from "../../benchmarks/bench_run.ts";
import { reproduceRun } from "../../benchmarks/reproduce.ts";
import { InputError } from "../../core/errors.ts";
import { engines, registerBuiltins } from "../../core/registries.ts";
import { onnxEngineFactory } from "../../engines/onnx_node/engine.ts";
import type { EngineFactory } from "../../engines/engine.ts";

const quiet = { log: () => {}, warn: () => {} };
const root = await Deno.makeTempDir({ prefix: "reproduce-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const original = join(root, "demo");
// the demo on two images per task (both tasks), on the CPU engine
await runBenchmark({ suite: "odinw", demo: true, limit: 2, outDir: original, ...quiet });
const recordPath = join(original, "run.json");

/** A copy of the original run folder to tamper with. */
async function copyOfRun(name: string): Promise<string> {
  const dir = join(root, name);
  await Deno.mkdir(join(dir, "detections"), { recursive: true });
  for (const file of ["run.json", "fingerprint.json"]) {
    await Deno.copyFile(join(original, file), join(dir, file));
  }
  for await (const entry of Deno.readDir(join(original, "detections"))) {
    await Deno.copyFile(
      join(original, "detections", entry.name),
      join(dir, "detections", entry.name),
    );
  }
  return dir;
}

Deno.test("bench --reproduce on the demo's run reproduces it exactly (exit 0)", async () => {
  const rerun = join(root, "rerun-exact");
  const result = await runCli(["bench", "--reproduce", recordPath, "--out", rerun]);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stdout, "every detections file and metric identical");
  assertEquals(
    await Deno.readTextFile(join(rerun, "detections", "DemoShapes.jsonl")),
    await Deno.readTextFile(join(original, "detections", "DemoShapes.jsonl")),
  );
});

Deno.test("bench --reproduce with a tampered detections file exits 3 naming the file", async () => {
  const dir = await copyOfRun("tampered-detections");
  const file = join(dir, "detections", "DemoShapes.jsonl");
  const lines = (await Deno.readTextFile(file)).split("\n");
  const line = JSON.parse(lines[1]);
  assert(line.detections.length > 0, "the demo model detects something on this image");
  line.detections[0][4] = Math.min(1, line.detections[0][4] + 0.01);
  lines[1] = JSON.stringify(line);
  await Deno.writeTextFile(file, lines.join("\n"));
  const result = await runCli([
    "bench",
    "--reproduce",
    join(dir, "run.json"),
    "--out",
    join(root, "rerun-tampered-detections"),
  ]);
  assertEquals(result.code, 3, result.stderr);
  assertStringIncludes(result.stderr, "was NOT reproduced");
  assertStringIncludes(result.stderr, `${file}: differs from the rerun's`);
  assertStringIncludes(result.stderr, "from line 2");
});

Deno.test("a tampered record (a metric edited) is not reproduced, naming task and metric", async () => {
  const dir = await copyOfRun("tampered-record");
  const record = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
  const stored = record.tasks[1].result.named.AP50;
  record.tasks[1].result.named.AP50 = stored + 0.05;
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(record));
  const result = await reproduceRun(join(dir, "run.json"), {
    outDir: join(root, "rerun-tampered-record"),
    ...quiet,
  });
  assertEquals(result.reproduced, false);
  assertEquals(result.mode, "exact");
  assertEquals(result.differences, [
    `DemoColors: named.AP50 recorded ${stored + 0.05}, rerun ${stored}`,
  ]);
});

Deno.test("a record without a fingerprint, or with files outside its folder, is refused before running", async () => {
  const dir = await copyOfRun("refused");
  const record = JSON.parse(await Deno.readTextFile(recordPath));
  const { fingerprint: _, ...bare } = record;
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(bare));
  await assertRejects(() => reproduceRun(join(dir, "run.json"), quiet), InputError, "fingerprint");
  record.tasks[0].detectionsFile = "../../../etc/passwd";
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(record));
  await assertRejects(
    () => reproduceRun(join(dir, "run.json"), quiet),
    InputError,
    "tasks[0].detectionsFile: expected a path inside the run folder",
  );
  const entries = [];
  for await (const entry of Deno.readDir(root)) entries.push(entry.name);
  assert(!entries.some((name) => name.startsWith("refused-reproduce")), "nothing ran");
});

/** onnx on the CPU describing itself as a GPU provider: its runs are compared within tolerance. */
const gpuLike: EngineFactory = {
  name: "gpu-like",
  summary: "onnx cpu described as a GPU provider (tests)",
  probe: () => onnxEngineFactory.probe(),
  async create(bundle, options = {}) {
    const engine = await onnxEngineFactory.create(bundle, options);
    const describe = engine.describe.bind(engine);
    Object.defineProperty(engine, "describe", {
      value: () => ({ ...describe(), executionProvider: "gpu-test" }),
    });
    return engine;
  },
};

Deno.test("GPU-engine records are compared within the engine-parity tolerance (0.001 AP)", async () => {
  registerBuiltins();
  engines.register({ name: "gpu-like", summary: gpuLike.summary, load: () => gpuLike });
  const dir = join(root, "gpu-like");
  await runBenchmark({
    suite: "odinw",
    demo: true,
    tasks: ["DemoColors"],
    limit: 1,
    engines: ["gpu-like"],
    outDir: dir,
    ...quiet,
  });
  const record = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
  const stored = record.tasks[0].result.named.AP50;
  for (const [shift, reproduced] of [[0.0005, true], [0.005, false]] as const) {
    record.tasks[0].result.named.AP50 = stored + shift;
    await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(record));
    const result = await reproduceRun(join(dir, "run.json"), quiet);
    assertEquals(result.mode, "tolerance");
    assertEquals(result.reproduced, reproduced, result.differences.join("; "));
  }
});
