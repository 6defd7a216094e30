/**
 * The four registries (engines, suites, protocols, datasets) and the built-in entries. Each
 * built-in is a lazy import, so only what a command uses is loaded.
 *
 * @module
 */
import type { EngineFactory } from "../engines/engine.ts";
import type { ProtocolDefinition, SuiteDefinition } from "../benchmarks/suite.ts";
import type { DatasetDefinition } from "../datasets/dataset.ts";
import { Registry } from "./registry.ts";

/** Inference engines (`onnx`, `webgpu`, `wasm`, `auto`, plugins). */
export const engines: Registry<EngineFactory> = new Registry<EngineFactory>("engine");
/** Benchmark suites (`odinw`, `coco`, `lvis`, `flickr30k`, plugins). */
export const suites: Registry<SuiteDefinition> = new Registry<SuiteDefinition>("suite");
/** Evaluation protocols (`zero-shot`, `few-shot`, `prompt-tuning`, `linear-probe`). */
export const protocols: Registry<ProtocolDefinition> = new Registry<ProtocolDefinition>("protocol");
/** Datasets with cards and presence checks. */
export const datasets: Registry<DatasetDefinition> = new Registry<DatasetDefinition>("dataset");

/** The registries by the name `deno task list` uses. */
export const registries = { engines, suites, protocols, datasets } as const;

/** Name of one registry. */
export type RegistryName = keyof typeof registries;

let builtinsRegistered = false;

/** Registers the built-in entries once. */
export function registerBuiltins(): void {
  if (builtinsRegistered) return;
  builtinsRegistered = true;
  for (const entry of BUILTIN_PROTOCOLS) protocols.register(entry);
  for (const name of ["odinw", "coco", "lvis", "flickr30k"]) {
    datasets.register({
      name,
      summary: `${name} (card and presence check)`,
      load: async () => (await import("../datasets/cards.ts")).DATASETS[name],
    });
  }
  suites.register({
    name: "odinw",
    summary: "ODinW-13 (or ODinW-35) detection with GLIP's prompts and splits",
    load: async () => (await import("../benchmarks/suites/odinw.ts")).odinwSuite,
  });
  suites.register({
    name: "coco",
    summary: "COCO val2017 zero-shot detection with GLIP's 80-name prompt",
    load: async () => (await import("../benchmarks/suites/coco_lvis.ts")).cocoSuite,
  });
  suites.register({
    name: "lvis",
    summary: "LVIS v1 minival or val: 40-name chunks, FixedAP, APr/APc/APf",
    load: async () => (await import("../benchmarks/suites/coco_lvis.ts")).lvisSuite,
  });
  suites.register({
    name: "flickr30k",
    summary: "Flickr30K Entities phrase grounding (val, test): R@1/5/10, ANY-BOX",
    load: async () => (await import("../benchmarks/suites/flickr30k.ts")).flickr30kSuite,
  });
  engines.register({
    name: "onnx",
    summary: "onnxruntime-node: CPU (CUDA/TensorRT where their provider libraries are installed)",
    load: async () => (await import("../engines/onnx_node/engine.ts")).onnxEngineFactory,
  });
  engines.register({
    name: "webgpu",
    summary: "onnxruntime-web WebGPU on Deno's navigator.gpu (no silent CPU fallback)",
    load: async () => (await import("../engines/ort_web/engine.ts")).webgpuEngineFactory,
  });
  engines.register({
    name: "auto",
    summary:
      "the fastest engine that works here (onnx cuda, onnx cpu, webgpu, wasm), recorded in the run",
    load: async () => (await import("../engines/auto.ts")).autoEngineFactory,
  });
  engines.register({
    name: "wasm",
    summary: "onnxruntime-web WebAssembly CPU (no native addon needed)",
    load: async () => (await import("../engines/ort_web/engine.ts")).wasmEngineFactory,
  });
}

const BUILTIN_PROTOCOLS = [
  {
    name: "zero-shot",
    summary: "evaluate the checkpoint as it is (GLIP tools/test_grounding_net.py)",
    load: () => ({ name: "zero-shot", summary: "no adaptation", adapts: false }),
  },
  {
    name: "few-shot",
    summary:
      "k-shot full-model tuning x seeds, select on val, report on test (GLIP tools/finetune.py)",
    load: () => ({ name: "few-shot", summary: "full-model tuning", adapts: true }),
  },
  {
    name: "prompt-tuning",
    summary: "k-shot prompt tuning (language_prompt_v2) x seeds, select on val, report on test",
    load: () => ({ name: "prompt-tuning", summary: "prompt tuning", adapts: true }),
  },
  {
    name: "linear-probe",
    summary:
      "k-shot linear probing (linear_prob: backbones and tower frozen, final layers trained) x seeds, select on val, report on test",
    load: () => ({ name: "linear-probe", summary: "linear probing", adapts: true }),
  },
];
