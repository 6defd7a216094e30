/**
 * A run folder holds one run: its fingerprint refuses a resume of anything else, its stored
 * detections are checked line by line, a finished run resumed stays as it was, timings add up
 * over segments, one writer holds it at a time, and default folders never collide. Driven
 * in-process through `runBenchmark` on one or two images of the embedded demo.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { hostname } from "node:os";
import { type BenchOptions, runBenchmark } from "../../benchmarks/bench_run.ts";
import { modelLabels } from "../../benchmarks/bench_inputs.ts";
import { demoBundle, nanoBundle } from "../../benchmarks/models.ts";
import { acquireRunLock, LOCK_FILE, RunLockedError } from "../../benchmarks/run_lock.ts";
import { claimNewRunDir } from "../../benchmarks/run_folder.ts";
import { FINGERPRINT_FILE } from "../../benchmarks/run_fingerprint.ts";
import { SEGMENTS_FILE } from "../../benchmarks/run_segments.ts";
import { readRunRecord } from "../../benchmarks/run_record.ts";
import { InputError, UsageError } from "../../core/errors.ts";
import { pathExists } from "../../core/fs.ts";
import { engines, registerBuiltins } from "../../core/registries.ts";
import { onnxEngineFactory } from "../../engines/onnx_node/engine.ts";
import type { EngineFactory } from "../../engines/engine.ts";

const quiet = { log: () => {}, warn: () => {} };

/** One image of DemoColors: the smallest real run. */
function demoRun(outDir: string, more: Partial<BenchOptions> = {}): BenchOptions {
  return { suite: "odinw", demo: true, tasks: ["DemoColors"], limit: 1, outDir, ...quiet, ...more };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "run-integrity-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** onnx on the CPU that reports the dtype it was asked for: a stand-in for an fp16 engine. */
const dtypeEcho: EngineFactory = {
  name: "dtype-echo",
  summary: "onnx cpu, describing the dtype asked for (tests)",
  probe: () => onnxEngineFactory.probe(),
  async create(bundle, options = {}) {
    const engine = await onnxEngineFactory.create(bundle, { ...options, dtype: "fp32" });
    const describe = engine.describe.bind(engine);
    Object.defineProperty(engine, "describe", {
      value: () => ({ ...describe(), dtype: options.dtype ?? "fp32" }),
    });
    return engine;
  },
};
registerBuiltins();
engines.register({ name: "dtype-echo", summary: dtypeEcho.summary, load: () => dtypeEcho });
engines.register({
  name: "absent",
  summary: "an engine that is not available (tests)",
  load: () => ({
    ...onnxEngineFactory,
    name: "absent",
    probe: () => Promise.resolve({ available: false, reason: "not here" }),
  }),
});

Deno.test("resume refuses another model, engine, prompt or dtype, naming the field (exit 2)", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "run");
    await runBenchmark(demoRun(out, { engines: ["dtype-echo"] }));
    const before = await Deno.readTextFile(join(out, "detections", "DemoColors.jsonl"));
    const other = await nanoBundle(0);
    const cases: [Partial<BenchOptions>, string][] = [
      [{ models: [other.dir] }, "model.bundleSha256"],
      [{ engines: ["onnx"] }, "engine.requested"],
      [{ prompt: "engineered" }, "tasks.DemoColors.promptHashes[0]"],
      [{ dtype: "fp16" }, 'engine.dtype: "fp32" -> "fp16"'],
      [{ limit: 2 }, "limit: 1 -> 2"],
    ];
    for (const [change, field] of cases) {
      await assertRejects(
        () => runBenchmark(demoRun(out, { engines: ["dtype-echo"], resume: true, ...change })),
        UsageError,
        field,
      );
    }
    assertEquals(
      await Deno.readTextFile(join(out, "detections", "DemoColors.jsonl")),
      before,
      "a refused resume writes nothing",
    );
    assert(!(await pathExists(join(out, LOCK_FILE))), "the lock is removed after a failure too");
  });
});

Deno.test("an adapted (few-shot) run's resume refuses other seeds, naming the field", async () => {
  await withTempDir(async (dir) => {
    // every cell's checkpoint is the demo bundle itself: a real adapted-run layout, quickly
    const checkpoints = (await demoBundle()).dir;
    const adapted = (more: Partial<BenchOptions>) =>
      demoRun(dir, { protocol: "few-shot", checkpoints, shots: [1], seeds: [3], ...more });
    await runBenchmark(adapted({}));
    await assertRejects(
      () => runBenchmark(adapted({ resume: true, seeds: [30] })),
      UsageError,
      "adaptation.seeds[0]: 3 -> 30",
    );
    // the native trainer's --epochs may grow on resume, never shrink (below GLIP's 200 here)
    await assertRejects(
      () =>
        runBenchmark(
          adapted({ resume: true, checkpoints: undefined, trainer: "native", epochs: 3 }),
        ),
      UsageError,
      "was started with --epochs (GLIP's 200); resuming with 3",
    );
    const before = await Deno.readTextFile(join(dir, "run.json"));
    const resumed = await runBenchmark(adapted({ resume: true }));
    assertEquals(resumed.runs[0].unchanged, true, "a finished adapted run resumed stays as it was");
    assertEquals(resumed.runs[0].record.tasks[0].cells?.length, 1);
    assertEquals(await Deno.readTextFile(join(dir, "run.json")), before);
  });
});

Deno.test("a fresh run refuses a folder that holds another run's fingerprint", async () => {
  await withTempDir(async (dir) => {
    await runBenchmark(demoRun(dir));
    await assertRejects(() => runBenchmark(demoRun(dir)), InputError, "pass --resume");
  });
});

Deno.test("resume checks stored detections: a bad line in the middle names file:line; a torn last line is cut", async () => {
  await withTempDir(async (dir) => {
    await runBenchmark(demoRun(dir, { limit: 3 }));
    const file = join(dir, "detections", "DemoColors.jsonl");
    const good = (await Deno.readTextFile(file)).split("\n").filter((l) => l);
    assertEquals(good.length, 3);
    const second = JSON.parse(good[1]);
    const bad: [unknown, string][] = [
      [{ ...second, image_id: 999999 }, `${file}:2: image_id: not an image of this run's split`],
      [
        { ...second, detections: [[1, 2, 3, 4, 0.5, 77]] },
        `${file}:2: detections[0][5]: not a label of this task`,
      ],
      [{ ...second, detections: [[1, 2, 3, null, 0.5, 1]] }, `${file}:2: detections[0]: expected`],
    ];
    // JSON has no Infinity, but 1e999 parses to it
    const infinite = JSON.stringify({ ...second, detections: [[1, 2, 3, 4, 0.5, 1]] })
      .replace("0.5", "1e999");
    for (const [line, message] of bad) {
      await Deno.writeTextFile(file, [good[0], JSON.stringify(line), good[2]].join("\n") + "\n");
      await assertRejects(
        () => runBenchmark(demoRun(dir, { limit: 3, resume: true })),
        InputError,
        message,
      );
    }
    await Deno.writeTextFile(file, [good[0], infinite, good[2]].join("\n") + "\n");
    await assertRejects(
      () => runBenchmark(demoRun(dir, { limit: 3, resume: true })),
      InputError,
      `${file}:2: detections[0]: expected [x, y, w, h, score, label] (six finite numbers)`,
    );
    // a kill mid-write leaves a torn last line: it is cut and that image runs again
    await Deno.writeTextFile(file, [good[0], good[1], good[2].slice(0, 20)].join("\n"));
    await runBenchmark(demoRun(dir, { limit: 3, resume: true }));
    assertEquals((await Deno.readTextFile(file)).split("\n").filter((l) => l), good);
  });
});

Deno.test("resuming a finished run changes nothing, timings included", async () => {
  await withTempDir(async (dir) => {
    await runBenchmark(demoRun(dir));
    const files = [
      "run.json",
      FINGERPRINT_FILE,
      SEGMENTS_FILE,
      "detections/DemoColors.jsonl",
      "detections/DemoColors.bbox.json",
    ];
    const before = await Promise.all(files.map((f) => Deno.readTextFile(join(dir, f))));
    const result = await runBenchmark(demoRun(dir, { resume: true }));
    assertEquals(result.runs[0].unchanged, true);
    assertEquals(await Promise.all(files.map((f) => Deno.readTextFile(join(dir, f)))), before);
    assert(result.runs[0].record.timings.imagesPerSecond > 0);
  });
});

Deno.test("timings add up over every segment of a resumed run", async () => {
  await withTempDir(async (dir) => {
    const first = await runBenchmark(demoRun(dir, { limit: 2 }));
    const firstTimings = first.runs[0].record.timings;
    assertEquals(firstTimings.segments, 1);
    // cut the run back to its first image, as a kill after it would have left it
    const file = join(dir, "detections", "DemoColors.jsonl");
    const lines = (await Deno.readTextFile(file)).split("\n").filter((l) => l);
    await Deno.writeTextFile(file, lines[0] + "\n");
    await Deno.remove(join(dir, "run.json"));
    const resumed = (await runBenchmark(demoRun(dir, { limit: 2, resume: true }))).runs[0].record;
    assertEquals(resumed.timings.segments, 2);
    // both segments' images: 2 in the first, 1 in the second
    assertEquals(resumed.invocations.image, 3);
    assertEquals(resumed.timings.stages.image.count, 3);
    assert(resumed.timings.wallSeconds > firstTimings.wallSeconds);
    const segments = JSON.parse(await Deno.readTextFile(join(dir, SEGMENTS_FILE))).segments;
    const wall = segments[0].wallSeconds + segments[1].wallSeconds;
    assert(Math.abs(resumed.timings.wallSeconds - wall) < 1e-9);
    assert(Math.abs(resumed.timings.imagesPerSecond - 3 / wall) < 1e-9);
  });
});

Deno.test("a second writer is refused at once, naming the holder, while the first finishes", async () => {
  await withTempDir(async (dir) => {
    const first = runBenchmark(demoRun(dir, { limit: 2 }));
    // the first run holds the lock from before its first detection to its end
    for (let i = 0; i < 400 && !(await pathExists(join(dir, LOCK_FILE))); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const error = await assertRejects(
      () => runBenchmark(demoRun(dir, { limit: 2 })),
      RunLockedError,
    );
    assertStringIncludes(error.message, `pid ${Deno.pid} on ${hostname()}`);
    const record = (await first).runs[0].record;
    assertEquals(record.tasks[0].images, 2);
    assertEquals(record.invocations.image, 2);
    assert(!(await pathExists(join(dir, LOCK_FILE))), "released at the end");
    assertEquals((await readRunRecord(join(dir, "run.json"))).id, record.id);
  });
});

Deno.test("a second writer in another process fails with exit 1 naming the holder", async () => {
  await withTempDir(async (dir) => {
    const lock = await acquireRunLock(dir, { ...quiet, command: ["test-holder"] });
    try {
      const child = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          new URL("../../cli/main.ts", import.meta.url).pathname,
          "bench",
          "odinw",
          "--demo",
          "--limit",
          "1",
          "--out",
          dir,
          "--no-report",
        ],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(child.stderr);
      assertEquals(child.code, 1, stderr);
      assertStringIncludes(stderr, `is being written by pid ${Deno.pid}`);
      assertStringIncludes(stderr, "test-holder");
      assertEquals(await pathExists(join(dir, "detections")), false, "it wrote nothing");
    } finally {
      await lock.release();
    }
  });
});

Deno.test("the stale lock of a process that is gone is taken over with a warning", async () => {
  await withTempDir(async (dir) => {
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    const stale = { pid: gone.pid, host: hostname(), startedAt: "2026-01-01T00:00:00.000Z" };
    await Deno.writeTextFile(join(dir, LOCK_FILE), JSON.stringify(stale));
    const warnings: string[] = [];
    const lock = await acquireRunLock(dir, { warn: (line) => warnings.push(line) });
    assertEquals(lock.holder.pid, Deno.pid);
    assertEquals(warnings.length, 1);
    assertStringIncludes(warnings[0], `took over the lock of pid ${gone.pid}`);
    await lock.release();
    // a live holder on this host is not stale; one on another host cannot be judged
    for (const holder of [{ ...stale, pid: Deno.ppid }, { ...stale, host: "elsewhere" }]) {
      await Deno.writeTextFile(join(dir, LOCK_FILE), JSON.stringify(holder));
      await assertRejects(() => acquireRunLock(dir, quiet), RunLockedError, "is being written by");
    }
    await Deno.writeTextFile(join(dir, LOCK_FILE), "{torn");
    await assertRejects(() => acquireRunLock(dir, quiet), RunLockedError, "cannot be read");
  });
});

Deno.test("default run folders never collide: the same day gives -2, -3", async () => {
  await withTempDir(async (dir) => {
    const base = join(dir, "runs", "odinw-2026-12-01");
    const claimed = await Promise.all([1, 2, 3].map(() => claimNewRunDir(base)));
    assertEquals(claimed.sort(), [base, `${base}-2`, `${base}-3`]);
  });
  await withTempDir(async (dir) => {
    // through runBenchmark, from a working folder with an earlier run of today
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      const a = await runBenchmark({ ...demoRun(""), outDir: undefined });
      const b = await runBenchmark({ ...demoRun(""), outDir: undefined });
      assert(a.outDir !== b.outDir);
      assertEquals(b.outDir, `${a.outDir}-2`);
      // a run that fails before writing anything leaves no empty default folder behind
      await assertRejects(
        () => runBenchmark({ ...demoRun(""), outDir: undefined, engines: ["absent"] }),
        UsageError,
        "not available here: not here",
      );
      assertEquals(await pathExists(`${a.outDir}-3`), false);
    } finally {
      Deno.chdir(cwd);
    }
  });
});

Deno.test("resume without --out is a usage error (there is no run to find)", async () => {
  await assertRejects(
    () => runBenchmark({ ...demoRun(""), outDir: undefined, resume: true }),
    UsageError,
    "give --out",
  );
});

Deno.test("models whose files share a basename get distinct labels", () => {
  assertEquals(modelLabels(["a/glip_tiny.pth", "b/glip_tiny.pth"]), ["a_glip_tiny", "b_glip_tiny"]);
  assertEquals(modelLabels(["x/a/m.pth", "y/a/m.pth", "z.pth"]), ["x_a_m", "y_a_m", "z"]);
  assertEquals(modelLabels(["bundles/glip-t/", "glip_tiny_model_o365_goldg.pth"]), [
    "glip-t",
    "glip_tiny_model_o365_goldg",
  ]);
  assertEquals(modelLabels(["m.pth", "m.pth"]), ["m", "m-2"]);
});
