/**
 * `deno task conformance`: every output of every graph compared with onnxruntime-node CPU;
 * exit 0 within tolerance, 1 out of it, 2 for usage errors.
 */
import { assert, assertEquals } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import type { ParityResult } from "../../engines/parity.ts";
import { compareOutput } from "../../engines/parity.ts";

const bundle = await nanoBundle(0);

Deno.test("conformance: wasm on the nano model passes, text, image and head compared", async () => {
  const result = await runCli([
    "conformance",
    "--model",
    bundle.dir,
    "--engine",
    "wasm",
    "--size",
    "128x160",
    "--json",
  ]);
  assertEquals(result.code, 0, result.stderr);
  const parity = JSON.parse(result.stdout) as ParityResult;
  assertEquals(parity.size, { height: 128, width: 160 });
  const [wasm] = parity.engines;
  assertEquals(wasm.failures, []);
  const graphs = new Set(wasm.outputs.map((o) => o.graph));
  assertEquals([...graphs].sort(), ["head", "image", "text"]);
  // 1 text + 5 image + 15 head outputs
  assertEquals(wasm.outputs.length, 21);
  assert(wasm.outputs.every((o) => o.ok && o.scale > 0), JSON.stringify(wasm.outputs));
  assert(wasm.detections.top > 0 && wasm.detections.matched === wasm.detections.top);
});

// webgpu fp16 against the fp32 reference is checked once, through bench --check-parity
// (tests/engines/webgpu_fp16_parity_test.ts): lavapipe is slow. Here: --dtype reaches the engines.
Deno.test("conformance: --dtype fp16 reaches the engines (wasm has no fp16 and fails, saying so)", async () => {
  const result = await runCli([
    "conformance",
    "--model",
    bundle.dir,
    "--engine",
    "wasm",
    "--dtype",
    "fp16",
    "--size",
    "64x96",
    "--json",
  ]);
  assertEquals(result.code, 1, result.stderr);
  const [wasm] = (JSON.parse(result.stdout) as ParityResult).engines;
  assertEquals(wasm.dtype, "fp16");
  assert(
    wasm.failures.some((f) => f.includes("fp16 runs on the webgpu engine")),
    wasm.failures.join("\n"),
  );
});

Deno.test("conformance: an engine with perturbed token logits exits 1, naming the output", async () => {
  const result = await runCli([
    "conformance",
    "--model",
    bundle.dir,
    "--engine",
    "onnx-perturbed",
    "--plugin",
    "tests/engines/fixtures/perturbed_engine_plugin.ts",
  ]);
  assertEquals(result.code, 1, result.stderr);
  assert(result.stdout.includes("FAIL"), result.stdout);
  assert(result.stdout.includes("head dot_product_logits_l0"), result.stdout);
  assert(result.stdout.includes("100.0% of values out of tolerance"), result.stdout);
});

Deno.test("conformance: usage errors exit 2 with what is wrong", async () => {
  const cases: [string[], string][] = [
    [["--engine", "wasm"], "--model"],
    [["--model", bundle.dir], "--engine"],
    [["--model", bundle.dir, "--engine", "wasmm"], "wasm"],
    [["--model", bundle.dir, "--engine", "wasm", "--size", "800by1344"], "800by1344"],
    [["--model", bundle.dir, "--engine", "wasm", "--dtype", "fp8"], "fp8"],
  ];
  for (const [args, mention] of cases) {
    const result = await runCli(["conformance", ...args]);
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert(result.stderr.includes(mention), `${args.join(" ")}: ${result.stderr}`);
  }
});

Deno.test("compareOutput() scales by the reference's largest magnitude and counts NaN as out", () => {
  const reference = { dims: [4], data: Float32Array.of(-10, 1, 2, 3) };
  const tolerance = { relative: 1e-3, absolute: 1e-5 };
  const near = compareOutput("head", "x", reference, Float32Array.of(-10, 1.009, 2, 3), tolerance);
  assert(near.ok && near.scale === 10 && Math.abs(near.scaledError - 9e-4) < 1e-6);
  const far = compareOutput("head", "x", reference, Float32Array.of(-10, 1.02, 2, 3), tolerance);
  assertEquals([far.ok, far.outOfTolerance], [false, 0.25]);
  const nan = compareOutput("head", "x", reference, Float32Array.of(-10, NaN, 2, 3), tolerance);
  assertEquals([nan.ok, nan.maxAbs], [false, Infinity]);
  assertEquals(compareOutput("head", "x", reference, Float32Array.of(1), tolerance).ok, false);
});
