/**
 * The `auto` engine: tries engines in order of expected speed (onnxruntime-node on CUDA when its
 * provider libraries are installed, onnxruntime-node on the CPU, WebGPU, WebAssembly), uses the
 * first that loads the bundle, and records in describe() which one it chose and why it skipped
 * the others.
 *
 * @module
 */
import type { Engine, EngineAvailability, EngineFactory, EngineOptions } from "./engine.ts";
import type { ModelBundle } from "../models/bundle.ts";

interface Candidate {
  label: string;
  load: () => Promise<EngineFactory>;
  options: EngineOptions;
  /** Only try when this says so (e.g. CUDA libraries present). */
  when?: () => Promise<string | undefined>;
}

const CANDIDATES: Candidate[] = [
  {
    label: "onnx (cuda)",
    load: async () => (await import("./onnx_node/engine.ts")).onnxEngineFactory,
    options: { executionProvider: "cuda" },
    when: async () => {
      const { providerLibraries } = await import("./onnx_node/engine.ts");
      return providerLibraries().cuda ? undefined : "CUDA provider libraries are not installed";
    },
  },
  {
    label: "onnx (cpu)",
    load: async () => (await import("./onnx_node/engine.ts")).onnxEngineFactory,
    options: {},
  },
  {
    label: "webgpu",
    load: async () => (await import("./ort_web/engine.ts")).webgpuEngineFactory,
    options: {},
  },
  {
    label: "wasm",
    load: async () => (await import("./ort_web/engine.ts")).wasmEngineFactory,
    options: {},
  },
];

/** The `auto` engine factory. */
export const autoEngineFactory: EngineFactory = {
  name: "auto",
  summary:
    "the fastest engine that works here (onnx cuda, onnx cpu, webgpu, wasm), recorded in the run",
  async probe(): Promise<EngineAvailability> {
    const reasons: string[] = [];
    for (const candidate of CANDIDATES) {
      const skip = await candidate.when?.();
      if (skip) {
        reasons.push(`${candidate.label}: ${skip}`);
        continue;
      }
      const availability = await (await candidate.load()).probe();
      if (availability.available) {
        return { available: true, details: { wouldTry: candidate.label } };
      }
      reasons.push(`${candidate.label}: ${availability.reason}`);
    }
    return { available: false, reason: `no engine is available: ${reasons.join("; ")}` };
  },
  async create(bundle: ModelBundle, options: EngineOptions = {}): Promise<Engine> {
    const skipped: { engine: string; reason: string }[] = [];
    for (const candidate of CANDIDATES) {
      const skip = await candidate.when?.();
      if (skip) {
        skipped.push({ engine: candidate.label, reason: skip });
        continue;
      }
      const factory = await candidate.load();
      const availability = await factory.probe();
      if (!availability.available) {
        skipped.push({ engine: candidate.label, reason: availability.reason ?? "unavailable" });
        continue;
      }
      let engine: Engine;
      try {
        engine = await factory.create(bundle, { ...options, ...candidate.options });
      } catch (error) {
        skipped.push({ engine: candidate.label, reason: (error as Error).message });
        continue;
      }
      const describe = engine.describe.bind(engine);
      return Object.assign(Object.create(engine), {
        describe: () => ({ ...describe(), selection: { chosen: candidate.label, skipped } }),
        encodeText: engine.encodeText.bind(engine),
        encodeImage: engine.encodeImage.bind(engine),
        runHead: engine.runHead.bind(engine),
        dispose: engine.dispose.bind(engine),
      }) as Engine;
    }
    throw new Error(
      `auto: no engine could load ${bundle.dir}: ${
        skipped.map((s) => `${s.engine}: ${s.reason}`).join("; ")
      }`,
    );
  },
};
