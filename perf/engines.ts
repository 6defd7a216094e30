/**
 * `deno task perf:engines [--model DIR] [--runs N] [--size HxW]`: every available engine on the
 * nano bundle (or a given one), on the test image (or one of the given network input size, e.g.
 * 800x1344 for GLIP-T's full size): per-stage p50/p90 after warm-up, images per second, peak
 * memory; for engines with device reduction also the head with only the candidates read back.
 * @module
 */
import { parseArgs } from "node:util";
import { engines, registerBuiltins } from "../core/registries.ts";
import { loadBundle } from "../models/bundle.ts";
import { nanoBundle } from "../benchmarks/models.ts";
import { testImageAtSize } from "../engines/parity.ts";
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import { buildPrompt } from "../models/text/prompt.ts";
import { peakRssBytes, StageTimer } from "../benchmarks/stage_timer.ts";
import { candidateFilter } from "../models/post/atss.ts";
import { parseSize } from "../cli/commands/conformance.ts";

const { values } = parseArgs({
  options: { model: { type: "string" }, runs: { type: "string" }, size: { type: "string" } },
  strict: true,
});
registerBuiltins();
const bundle = values.model ? await loadBundle(values.model) : await nanoBundle(0);
const runs = Number(values.runs ?? 3);
const prompt = buildPrompt(await loadBertTokenizer(), ["circle", "square", "triangle"]);
const size = values.size ? parseSize(values.size) : undefined;
const pre = testImageAtSize(bundle.manifest.preprocess, size);
const filter = candidateFilter(prompt.positiveMapLabelToToken, bundle.manifest.postprocess);
const rows: string[][] = [];
// every engine in fp32, and webgpu in fp16 too where the adapter has shader-f16
const runsToDo: { name: string; label: string; dtype: "fp32" | "fp16" }[] = engines.list().map((
  e,
) => ({ name: e.name, label: e.name, dtype: "fp32" }));
if (engines.list().some((e) => e.name === "webgpu")) {
  runsToDo.push({ name: "webgpu", label: "webgpu fp16", dtype: "fp16" });
}
for (const entry of runsToDo) {
  const factory = await engines.get(entry.name);
  const availability = await factory.probe();
  const features = (availability.details?.features ?? []) as string[];
  if (!availability.available || (entry.dtype === "fp16" && !features.includes("shader-f16"))) {
    const why = availability.reason ?? "the adapter has no shader-f16";
    rows.push([entry.label, "unavailable", why, "", "", "", ""]);
    continue;
  }
  const engine = await factory.create(bundle, { dtype: entry.dtype });
  const timer = new StageTimer();
  const started = { value: 0 };
  for (let r = 0; r <= runs; r++) {
    const target = r === 0 ? new StageTimer() : timer;
    if (r === 1) started.value = performance.now();
    const text = await target.time("text", () => engine.encodeText(prompt.encoding));
    const image = await target.time("image", () => engine.encodeImage(pre.input));
    await target.time("head", () => engine.runHead(image, text));
    if (engine.capabilities.deviceReduction && engine.runHeadReduced) {
      await target.time("head-reduced", () => engine.runHeadReduced!(image, text, filter));
    }
    image.dispose();
    text.dispose();
  }
  const seconds = (performance.now() - started.value) / 1000;
  const summary = timer.summary();
  const fmt = (s: string) =>
    summary[s] ? `${summary[s].p50Ms.toFixed(0)}/${summary[s].p90Ms.toFixed(0)}` : "—";
  rows.push([
    entry.label,
    engine.describe().device,
    fmt("text"),
    fmt("image"),
    fmt("head"),
    fmt("head-reduced"),
    (runs / seconds).toFixed(2),
  ]);
  await engine.dispose();
}
const header = [
  "engine",
  "device",
  "text p50/p90 ms",
  "image p50/p90 ms",
  "head p50/p90 ms",
  "head+device reduction ms",
  "images/s",
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
console.log(
  `${bundle.manifest.configName} bundle, ${pre.input.height}x${pre.input.width} image, ${runs} runs after warm-up`,
);
console.log(header.map((h, i) => h.padEnd(widths[i])).join("  "));
for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i])).join("  "));
console.log(`peak memory ${(peakRssBytes() / 2 ** 30).toFixed(2)} GiB`);
