/**
 * `deno task perf:model [--model DIR | --checkpoint FILE.pth [--config NAME] | --config NAME]`:
 * times each graph of a bundle on
 * onnxruntime-node CPU for an 800x1333 image (padded to 800x1344) and a 256-token prompt:
 * seconds per stage (warm-up excluded) and peak memory. With --config (default nano), first
 * exports that architecture with seeded random weights and reports the export's time and peak
 * memory (`--config glip-t` gives a GLIP-T-sized model); `--checkpoint` exports a `.pth` (or
 * safetensors) first. Then GFLOPs per graph from a profiled run (perf/flops.ts; `--skip-flops`
 * leaves it out).
 *
 * Bundle verification is measured first: a load with an empty digest cache (every file hashed,
 * streamed) and a second load with the same cache (stat only, nothing hashed), each with its
 * time, files and bytes hashed. `--verify-only` stops after that (useful for a GLIP-T-sized
 * bundle on a small machine).
 *
 * Memory: `--memory lean|no-arena|arena` picks the onnx engine's memory profile (default lean, see
 * ONNX_MEMORY_PROFILES); the settings are printed, and so is the peak RSS of each stage of the
 * first and of the last run (Linux: the high-water mark is reset before each stage through
 * /proc/self/clear_refs), and the peak of inference: creating the sessions and every run.
 * @module
 */
import { parseArgs } from "node:util";
import { loadBundle, type ModelBundle } from "../models/bundle.ts";
import { presetArchitecture } from "../models/glip/config.ts";
import { exportBundle } from "../models/glip/export.ts";
import { RandomWeights } from "../models/glip/weights.ts";
import {
  onnxEngineFactory,
  type OnnxMemoryProfile,
  onnxMemorySettings,
} from "../engines/onnx_node/engine.ts";
import { peakRssBytes } from "../benchmarks/stage_timer.ts";
import { resolveModel } from "../benchmarks/models.ts";
import { profiledRun } from "./flops.ts";
import * as ort from "onnxruntime-node";
import { turnOffOnnxRuntimeTelemetry } from "../core/onnxruntime_telemetry.ts";

turnOffOnnxRuntimeTelemetry();

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    checkpoint: { type: "string" },
    config: { type: "string" },
    runs: { type: "string" },
    height: { type: "string" },
    width: { type: "string" },
    "verify-only": { type: "boolean" },
    memory: { type: "string" },
    "skip-flops": { type: "boolean" },
  },
  strict: true,
});
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
let bundle: ModelBundle;
/** A bundle exported here into a temporary folder, removed at the end. */
let exportedDir: string | undefined;
if (values.model) {
  bundle = await loadBundle(values.model);
} else if (values.checkpoint) {
  // export the checkpoint (cached by its sha256 under .cache/), timing the export
  const config = values.config ?? "glip-t";
  const started = performance.now();
  bundle = await resolveModel(values.checkpoint, config, (line) => console.log(line));
  console.log(
    `bundle for ${values.checkpoint} (${config}): ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s (an export unless cached), peak memory so far ${gib(peakRssBytes())}`,
  );
} else {
  const config = values.config ?? "nano";
  const dir = await Deno.makeTempDir({ prefix: `perf-model-${config}-` });
  exportedDir = dir;
  const started = performance.now();
  bundle = await exportBundle({
    architecture: presetArchitecture(config),
    configName: config,
    weights: new RandomWeights(0),
    outDir: dir,
    source: { kind: "random", seed: 0 },
    forms: ["native"],
  });
  let bytes = 0;
  for await (const entry of Deno.readDir(dir)) {
    bytes += (await Deno.stat(`${dir}/${entry.name}`)).size;
  }
  console.log(
    `export ${config} (random weights): ${((performance.now() - started) / 1000).toFixed(1)} s, ${
      gib(bytes)
    } on disk, peak memory so far ${gib(peakRssBytes())}`,
  );
}
// verification: first load hashes every file, the second reuses the remembered digests
{
  const cacheDir = await Deno.makeTempDir({ prefix: "perf-verify-cache-" });
  const describeLoad = (label: string, loaded: ModelBundle) => {
    const v = loaded.verification!;
    console.log(
      `${label}: ${v.seconds.toFixed(2)} s, ${v.hashed.length} file(s) hashed (${
        gib(v.hashedBytes)
      }${
        v.hashedBytes && v.seconds
          ? `, ${(v.hashedBytes / 2 ** 30 / v.seconds).toFixed(2)} GiB/s`
          : ""
      }), ${v.cached.length} remembered`,
    );
  };
  try {
    describeLoad("load 1 (empty digest cache)", await loadBundle(bundle.dir, { cacheDir }));
    describeLoad("load 2 (same cache)", await loadBundle(bundle.dir, { cacheDir }));
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
}
const removeExport = async () => {
  if (exportedDir) await Deno.remove(exportedDir, { recursive: true });
};
if (values["verify-only"]) {
  await removeExport();
  Deno.exit(0);
}

const height = Number(values.height ?? 800);
const width = Number(values.width ?? 1344);
const runs = Number(values.runs ?? 3);
if (!Number.isInteger(runs) || runs < 1) {
  throw new RangeError(`--runs must be an integer >= 1 (got '${values.runs}')`);
}
const memoryProfile = (values.memory ?? "lean") as OnnxMemoryProfile;
const memory = onnxMemorySettings(memoryProfile);

/**
 * Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so that the next peakRssBytes()
 * is the peak since this call. False where that is not possible (not Linux).
 */
function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}
const canResetPeak = resetPeakRss();
const peakBeforeEngine = peakRssBytes();
const engineStart = performance.now();
const engine = await onnxEngineFactory.create(bundle, { memory: memoryProfile });
const sessionSeconds = (performance.now() - engineStart) / 1000;
const sessionPeak = peakRssBytes();
const L = bundle.manifest.maxQueryLength;
const ids = new Int32Array(L).fill(1012);
ids[0] = 101;
ids[L - 1] = 102;
const text = { inputIds: ids, attentionMask: new Int32Array(L).fill(1) };
const image = {
  data: new Float32Array(3 * height * width).map((_, i) => Math.sin(i) * 2),
  height,
  width,
};
/** Runs one stage, timing it and (where possible) measuring its peak RSS. */
const time = async <T>(fn: () => Promise<T>) => {
  resetPeakRss();
  const start = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - start) / 1000, peak: peakRssBytes() };
};
const stages = ["text", "image", "head"] as const;
const stats: Record<string, number[]> = { text: [], image: [], head: [] };
const peaks: { first: Record<string, number>; last: Record<string, number> } = {
  first: {},
  last: {},
};
const firstRun: Record<string, number> = {};
for (let r = 0; r <= runs; r++) {
  const t = await time(() => engine.encodeText(text));
  const i = await time(() => engine.encodeImage(image));
  const h = await time(() => engine.runHead(i.value, t.value));
  const measured = { text: t, image: i, head: h };
  for (const stage of stages) {
    peaks[r === 0 ? "first" : "last"][stage] = measured[stage].peak;
    if (r === 0) firstRun[stage] = measured[stage].seconds; // warm-up
    else stats[stage].push(measured[stage].seconds);
  }
}
await engine.dispose();
const describe = engine.describe();
console.log(
  `${bundle.manifest.configName} on ${describe.engine} (${describe.device}, ${describe.threads} threads), image ${height}x${width}, ${L} tokens, ${runs} runs after warm-up:`,
);
console.log(
  `  memory profile ${memoryProfile}: ${
    stages.map((g) =>
      `${g} arena ${memory[g].cpuArena ? "on" : "off"}, pattern ${
        memory[g].memoryPattern ? "on" : "off"
      }`
    ).join("; ")
  }`,
);
console.log(
  `  sessions created in ${sessionSeconds.toFixed(1)} s${
    canResetPeak ? `, peak RSS while creating ${gib(sessionPeak)}` : ""
  } (${canResetPeak ? "RSS" : "peak"} before: ${gib(peakBeforeEngine)})`,
);
for (const stage of stages) {
  const samples = stats[stage].sort((a, b) => a - b);
  const rss = canResetPeak
    ? `, peak RSS first ${gib(peaks.first[stage])}, last ${gib(peaks.last[stage])}`
    : "";
  console.log(
    `  ${stage.padEnd(6)} first ${firstRun[stage].toFixed(3)} s, p50 ${
      samples[samples.length >> 1].toFixed(3)
    } s${rss}`,
  );
}
if (canResetPeak) {
  const inference = Math.max(
    sessionPeak,
    ...Object.values(peaks.first),
    ...Object.values(peaks.last),
  );
  console.log(`  peak RSS of inference (sessions and runs) ${gib(inference)}`);
} else {
  console.log("  (peak RSS per stage needs Linux's /proc/self/clear_refs; not measured)");
  console.log(`  peak memory ${gib(peakRssBytes())}`);
}
if (values["skip-flops"]) Deno.exit(0);

// FLOPs at the same sizes, from a profiled run of each graph (2 x multiply-adds of Conv,
// DeformConv, MatMul, Gemm; see perf/flops.ts)
const m = bundle.manifest;
const textRun = await profiledRun(bundle, m.graphs.text.file, {
  input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, (v) => BigInt(v)), [1, L]),
  attention_mask: new ort.Tensor("int64", new BigInt64Array(L).fill(1n), [1, L]),
});
const imageRun = await profiledRun(bundle, m.graphs.image.file, {
  image: new ort.Tensor("float32", image.data, [1, 3, height, width]),
});
const headFile = m.graphs.head.native ?? m.graphs.head.decomposed!;
const headFeeds: Record<string, ort.Tensor> = {
  lang_hidden: textRun.outputs.lang_hidden,
  attention_mask: new ort.Tensor("int64", new BigInt64Array(L).fill(1n), [1, L]),
  prompt_offset: new ort.Tensor("float32", new Float32Array(L * m.textWidth), [1, L, m.textWidth]),
};
for (let i = 3; i <= 7; i++) headFeeds[`fpn_p${i}`] = imageRun.outputs[`fpn_p${i}`];
const headRun = await profiledRun(bundle, headFile.file, headFeeds);
console.log(
  `  GFLOPs (2 x multiply-adds, from ORT's profiled shapes): text ${
    textRun.gflops.toFixed(1)
  }, image ${imageRun.gflops.toFixed(1)}, head ${headRun.gflops.toFixed(1)}, total ${
    (textRun.gflops + imageRun.gflops + headRun.gflops).toFixed(1)
  }`,
);
await removeExport();
