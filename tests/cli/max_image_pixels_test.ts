/**
 * `bench --max-image-pixels N` is `GLIP_BENCH_MAX_IMAGE_PIXELS=N`: images above N pixels get a
 * warning, images above 2N are refused before decoding, a bad value is a usage error (exit 2)
 * that shows it, and a limit other than PIL's default is written into the run record.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { makeTestDir } from "../temp_dir.ts";
import { readRunRecord, validateRunRecord } from "../../benchmarks/run_record.ts";
import { pixelLimitSetting } from "../../benchmarks/bench_record.ts";
import { DEMO_IMAGE_SIZE } from "../../datasets/demo/generate.ts";
import { DEFAULT_MAX_IMAGE_PIXELS } from "../../models/image/decode.ts";
import { InputError } from "../../core/errors.ts";

const DEMO_PIXELS = DEMO_IMAGE_SIZE.width * DEMO_IMAGE_SIZE.height;

/** A one-image demo run on onnxruntime-node with `extra` flags, into a fresh folder. */
async function demoRun(extra: string[], env: Record<string, string> = {}) {
  const out = await makeTestDir({ prefix: "max-pixels-" });
  const args = ["bench", "odinw", "--demo", "--tasks", "DemoShapes", "--limit", "1"];
  const result = await runCli([...args, "--no-report", "--quiet", "--out", out, ...extra], { env });
  return { ...result, out };
}

Deno.test("--max-image-pixels refuses values that are not a positive whole number or 'none' (exit 2)", async () => {
  for (const value of ["0", "-5", "12abc"]) {
    const result = await demoRun(["--max-image-pixels", value]);
    assertEquals(result.code, 2, `${value}: ${result.stderr}`);
    assertStringIncludes(
      result.stderr,
      `--max-image-pixels must be a positive whole number or 'none' (got '${value}')`,
    );
    assertEquals([...Deno.readDirSync(result.out)], [], `${value}: nothing was run`);
  }
});

Deno.test("--max-image-pixels N refuses images above 2N as GLIP_BENCH_MAX_IMAGE_PIXELS=N does", async () => {
  const limit = Math.floor(DEMO_PIXELS / 2) - 1;
  const message = `exceeds limit of ${2 * limit} pixels, could be a decompression bomb attack`;
  const byFlag = await demoRun(["--max-image-pixels", String(limit)]);
  assertEquals(byFlag.code, 1, byFlag.stderr);
  assertStringIncludes(byFlag.stderr, message);
  const byVariable = await demoRun([], { GLIP_BENCH_MAX_IMAGE_PIXELS: String(limit) });
  assertEquals(byVariable.code, 1, byVariable.stderr);
  assertStringIncludes(byVariable.stderr, message);
});

Deno.test("a run under a non-default limit warns above N and records the limit in run.json", async () => {
  const limit = DEMO_PIXELS - 1;
  const warned = await demoRun(["--max-image-pixels", String(limit)]);
  assertEquals(warned.code, 0, warned.stderr);
  assertStringIncludes(warned.stderr, `exceeds limit of ${limit} pixels`);
  const record = await readRunRecord(join(warned.out, "run.json"));
  assertEquals(record.settings.maxImagePixels, limit);

  const unlimited = await demoRun(["--max-image-pixels", "none"]);
  assertEquals(unlimited.code, 0, unlimited.stderr);
  assert(!unlimited.stderr.includes("exceeds limit"), unlimited.stderr);
  const open = await readRunRecord(join(unlimited.out, "run.json"));
  assertEquals(open.settings.maxImagePixels, "none");
});

Deno.test("the record holds no pixel limit at PIL's default, and the variable's when it is set", () => {
  assertEquals(pixelLimitSetting(DEFAULT_MAX_IMAGE_PIXELS), {});
  assertEquals(pixelLimitSetting(5000), { maxImagePixels: 5000 });
  assertEquals(pixelLimitSetting(Infinity), { maxImagePixels: "none" });
  const before = Deno.env.get("GLIP_BENCH_MAX_IMAGE_PIXELS");
  Deno.env.set("GLIP_BENCH_MAX_IMAGE_PIXELS", "none");
  try {
    assertEquals(pixelLimitSetting(), { maxImagePixels: "none" });
  } finally {
    if (before === undefined) Deno.env.delete("GLIP_BENCH_MAX_IMAGE_PIXELS");
    else Deno.env.set("GLIP_BENCH_MAX_IMAGE_PIXELS", before);
  }
});

Deno.test("a run record whose maxImagePixels is not a positive whole number or 'none' is refused", () => {
  const record = {
    schema: "glip-bench/run-record",
    version: 1,
    id: "x",
    createdAt: "2026-12-02T00:00:00Z",
    suite: "odinw",
    protocol: "zero-shot",
    settings: { deliberateDifferences: [], maxImagePixels: "<b>lots</b>" },
    model: {},
    engine: { engine: "onnx", executionProvider: "cpu", dtype: "fp32" },
    provenance: {},
    summary: { mean: 0 },
    timings: {},
    invocations: {},
    tasks: [],
  };
  assertThrows(
    () => validateRunRecord(record, "run.json"),
    InputError,
    "settings.maxImagePixels",
  );
  record.settings.maxImagePixels = "none";
  assertEquals(validateRunRecord(record, "run.json").settings.maxImagePixels, "none");
});
