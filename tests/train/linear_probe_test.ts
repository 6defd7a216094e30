/**
 * `--protocol linear-probe` (GLIP's `linear_prob` override) with the native trainer: exactly the
 * head parameters GLIP unfreezes train, val AP rises, the best model is a bundle that the test
 * split runs, an interrupted cell resumes to the same weights, and the report draws the curve
 * beside prompt tuning and full tuning.
 */
import { join } from "node:path";
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { type CliResult, runCli } from "../cli_helpers.ts";
import { readRunRecord, type RunRecord } from "../../benchmarks/run_record.ts";
import { readFloatTensors } from "../../models/checkpoint/mod.ts";
import { loadBundle } from "../../models/bundle.ts";
import { LINEAR_PROBE_KEYS, linearProbeTrains } from "../../models/train/linear_probe_tuner.ts";
import { renderReportPage } from "../../reports/page.ts";

Deno.test("linearProbeTrains() is GLIP's MODEL.LINEAR_PROB rule over the head's parameters", () => {
  const trained = [
    "rpn.head.bbox_pred.weight",
    "rpn.head.bbox_pred.bias",
    "rpn.head.centerness.weight",
    "rpn.head.centerness.bias",
    "rpn.head.dot_product_projection_text.weight",
    "rpn.head.dot_product_projection_text.bias",
    "rpn.head.log_scale",
    "rpn.head.bias_lang",
    "rpn.head.bias0",
  ];
  const frozen = [
    "rpn.head.scales.0.scale",
    "rpn.head.dyhead_tower.0.b_attn.attn.v_proj.weight",
    "rpn.head.dyhead_tower.1.DyConv.0.weight",
    "rpn.head.dot_product_projection_image.weight",
    "backbone.body.layers.2.blocks.0.mlp.fc1.weight",
    "backbone.fpn.fpn_inner2.weight",
    "language_backbone.body.model.encoder.layer.0.output.dense.bias",
    "rpn.tunable_linear.weight",
  ];
  for (const name of trained) assert(linearProbeTrains(name), `${name} trains`);
  for (const name of frozen) assert(!linearProbeTrains(name), `${name} is frozen`);
  assertEquals(LINEAR_PROBE_KEYS.length, 8);
});

function bench(out: string, epochs: number, extra: string[] = []): Promise<CliResult> {
  return runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    "linear-probe",
    "--tasks",
    "DemoColors",
    "--shots",
    "1",
    "--seeds",
    "3",
    "--epochs",
    String(epochs),
    "--limit",
    "4",
    "--out",
    out,
    "--no-report",
    ...extra,
  ]);
}

Deno.test("native linear probing: only GLIP's probe layers train, val AP rises, the best model is a bundle, resume is exact", async () => {
  const straight = await makeTestDir({ prefix: "lp-straight-" });
  const result = await bench(straight, 2);
  assertEquals(result.code, 0, result.stderr);
  assertStringIncludes(result.stderr, "linear probing on 1 image(s), 8 copies per epoch");
  const record = await readRunRecord(join(straight, "run.json"));
  assertEquals(record.protocol, "linear-probe");
  const cell = record.tasks[0].cells![0];
  const zeroShot = cell.history![0].valAP!;
  assert(cell.valAP! > zeroShot, `best val AP ${cell.valAP} > zero-shot ${zeroShot}`);
  const cellDir = join(straight, "trainer", "DemoColors", "1_3");
  assertEquals(cell.checkpoint?.path, join(cellDir, "model_best"));
  const tuned = await loadBundle(join(cellDir, "model_best"));
  assertEquals(tuned.manifest.source.kind, "tuned");
  assertEquals(cell.checkpoint?.sha256, tuned.manifest.source.sha256);
  const tensors = [...(await readFloatTensors(join(cellDir, "model_best.safetensors"))).keys()];
  for (const name of tensors) assert(linearProbeTrains(name), `${name} is a linear-probe layer`);
  for (const key of ["bbox_pred", "centerness", "dot_product_projection_text", "bias_lang"]) {
    assert(tensors.some((n) => n.includes(key)), `${key} trained (got ${tensors.join(", ")})`);
  }
  assert(
    record.settings.deliberateDifferences.some((d) => d.includes("GLIP's linear_prob override")),
  );
  const bytes = await Deno.readFile(join(cellDir, "model_best.safetensors"));

  // interrupted after epoch 1 (a finished shorter run, its done marker removed), then resumed
  const resumed = await makeTestDir({ prefix: "lp-resumed-" });
  assertEquals((await bench(resumed, 1)).code, 0);
  const resumedDir = join(resumed, "trainer", "DemoColors", "1_3");
  await Deno.remove(join(resumedDir, "done.json"));
  const again = await bench(resumed, 2, ["--resume"]);
  assertEquals(again.code, 0, again.stderr);
  assertStringIncludes(again.stderr, "resuming after epoch 1");
  assertEquals(await Deno.readFile(join(resumedDir, "model_best.safetensors")), bytes);

  // a run set holding the three adaptation protocols draws three curves, each named
  const as = (protocol: string): RunRecord => ({
    ...record,
    id: `${record.id}-${protocol}`,
    protocol,
  });
  const html = renderReportPage("adaptation", [
    as("prompt-tuning"),
    as("few-shot"),
    as("linear-probe"),
  ]);
  const data = JSON.parse(
    html.split('<script type="application/json" id="report-data">')[1].split("</script>")[0],
  );
  const labels = data.charts["chart-efficiency"].series.map((s: { label: string }) => s.label);
  for (const protocol of ["prompt-tuning", "few-shot", "linear-probe"]) {
    assert(labels.some((l: string) => l.endsWith(`· ${protocol}`)), `${protocol} in ${labels}`);
  }
});
