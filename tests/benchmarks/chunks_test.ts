import { makeTestDir } from "../temp_dir.ts";
import { assertEquals } from "../assert.ts";
import { join } from "node:path";
import { CACHE_DIR, nanoBundle } from "../../benchmarks/models.ts";
import { generateDemoSet } from "../../datasets/demo/generate.ts";
import { odinwDetectionTask } from "../../benchmarks/suites/odinw.ts";
import { prepareTask, runInference } from "../../benchmarks/runner.ts";
import { StageTimer } from "../../benchmarks/stage_timer.ts";
import { onnxEngineFactory } from "../../engines/onnx_node/engine.ts";

Deno.test("a chunked prompt (LVIS-style) runs the image backbone once per image and the head once per chunk", async () => {
  const demo = await generateDemoSet(join(CACHE_DIR, "demo-data"));
  const bundle = await nanoBundle(0);
  const task = {
    ...(await odinwDetectionTask(demo.tasks[0], { root: demo.root, prompt: "raw" })),
    chunkSize: 1,
  };
  const outDir = await makeTestDir();
  const prepared = await prepareTask(task, { bundle, outDir, limit: 3 });
  assertEquals(prepared.chunks.length, 3);
  const engine = await onnxEngineFactory.create(bundle, { threads: 1 });
  const timer = new StageTimer();
  try {
    await runInference(prepared, { engine, bundle, timer, outDir, resume: false, limit: 3 });
  } finally {
    await engine.dispose();
  }
  const counts = timer.counts();
  assertEquals({ text: counts.text, image: counts.image, head: counts.head }, {
    text: 3,
    image: 3,
    head: 9,
  });
});
