/**
 * The report's engine-parity section shows each run's recorded full-size parity check (engine
 * vs reference, size, dtype, worst scaled error per model part, detections, a verdict), says
 * "not checked at full size" for a run that has none, and a failed check flags the page.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { withTestDir } from "../temp_dir.ts";
import { renderReportPage } from "../../reports/page.ts";
import { buildSiteFromRuns } from "../../reports/site.ts";
import type { RunRecord } from "../../benchmarks/run_record.ts";
import { makeRecord } from "./records.ts";
import { failingCheck, passingCheck } from "./parity_checks.ts";

/** The text of the page's engine-parity section, tags removed. */
function paritySection(html: string): string {
  const start = html.indexOf('<section aria-labelledby="h-parity">');
  assert(start >= 0, "no engine-parity section");
  const end = html.indexOf("</section>", start);
  return html.slice(start, end).replace(/<[^>]+>/g, "|").replace(/\|+/g, "|");
}

function run(engine: string, patch: (r: RunRecord) => void = () => {}): RunRecord {
  return makeRecord({
    engine,
    patch: (r) => {
      r.engine.executionProvider = engine === "onnx" ? "cpu" : engine;
      patch(r);
    },
  });
}

Deno.test("a passing check shows engine vs reference, size, dtype, worst error per part, detections and a pass", () => {
  const html = renderReportPage("t", [run("wasm", (r) => (r.engineParity = [passingCheck()]))]);
  const text = paritySection(html);
  assertStringIncludes(text, "|wasm (wasm) vs onnxruntime-node CPU (fp32)|800x1344|fp32|");
  assertStringIncludes(text, "|1.0e-6|2.0e-6|1.2e-4|20/20 (20 required)|0.001 × max + 0.00001|");
  assertStringIncludes(text, "onnxruntime-web 1.30.0; reference onnxruntime-node 1.30.0; 12.5 s");
  assertStringIncludes(text, "|✓ pass|");
  assert(!html.includes("Engine parity failed"), "a passing run is flagged");
});

Deno.test("a failed check is a FAIL with its reasons, and the page header flags the run", () => {
  const html = renderReportPage("t", [run("webgpu", (r) => (r.engineParity = [failingCheck()]))]);
  const text = paritySection(html);
  assertStringIncludes(text, "|2.1e-1|3/20 (20 required)|");
  assertStringIncludes(text, "|✗ FAIL|");
  assertStringIncludes(text, "98.0% of values out of tolerance");
  assertStringIncludes(
    html,
    '<div class="banner" role="alert"><strong>Engine parity failed</strong>',
  );
  assertStringIncludes(html, '<td class="flag">✗ FAIL</td>');
});

Deno.test("a run never checked says so (no silent pass); the CPU reference run says it is the reference", () => {
  const text = paritySection(renderReportPage("t", [run("webgpu"), run("onnx")]));
  assertStringIncludes(text, "model · webgpu|not checked at full size (bench --check-parity)|");
  assertStringIncludes(
    text,
    "model · onnx|the reference engine itself (onnxruntime-node CPU, fp32); not checked at full size|",
  );
  assert(!text.includes("✓ pass"), text);
});

Deno.test("a pass at a tolerance looser than the dtype's standard is flagged, not a plain pass", () => {
  const loose = passingCheck();
  loose.tolerance = { relative: 0.5, absolute: 1e-5 };
  const fp16 = { ...passingCheck(), dtype: "fp16" as const };
  fp16.tolerance = { relative: 2e-2, absolute: 2e-3 };
  const text = paritySection(
    renderReportPage("t", [run("wasm", (r) => (r.engineParity = [loose, fp16]))]),
  );
  assertStringIncludes(text, "|⚠ pass at a tolerance looser than the standard|");
  // fp16's own standard is 2e-2: a pass there is a plain pass
  assertEquals(text.split("✓ pass").length, 2, text);
});

Deno.test("a merged run shows each shard's check with its shard", () => {
  const text = paritySection(renderReportPage("t", [
    run(
      "wasm",
      (
        r,
      ) => (r.engineParity = [{ ...passingCheck(), shard: "1/2" }, {
        ...passingCheck(),
        shard: "2/2",
      }]),
    ),
  ]));
  assertStringIncludes(text, "model · wasm |shard 1/2|");
  assertStringIncludes(text, "model · wasm |shard 2/2|");
});

Deno.test("deno task report refuses a record whose parity check claims a pass its numbers contradict", () =>
  withTestDir(async (root) => {
    const check = passingCheck();
    check.outputs[2] = { ...check.outputs[2], maxAbs: 0.6, scaledError: 0.24 };
    const dir = join(root, "run");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      join(dir, "run.json"),
      JSON.stringify(run("wasm", (r) => (r.engineParity = [check]))),
    );
    const result = await runCli(["report", dir, "--out", join(root, "site")]);
    assertEquals(result.code, 1, result.stderr);
    assertStringIncludes(result.stderr, "run.json: engineParity[0].outputs[2].ok: says pass");
  }, { prefix: "report-parity-" }));

Deno.test("the leaderboard marks the row of a run whose parity check failed, and only that row", () =>
  withTestDir(async (root) => {
    const runs = [
      run("webgpu", (r) => (r.engineParity = [failingCheck()])),
      run("wasm", (r) => (r.engineParity = [passingCheck()])),
    ].map((record, i) => ({ path: join(root, `run-${i}`, "run.json"), record }));
    const index = await buildSiteFromRuns(runs, join(root, "site"), { force: true });
    const rows = (await Deno.readTextFile(index)).split("<tr>").filter((row) =>
      row.includes('scope="row"')
    );
    assertEquals(rows.length, 2);
    const flagged = rows.map((row) => row.includes("engine parity failed"));
    assertEquals(flagged, [true, false]);
  }, { prefix: "report-parity-board-" }));
