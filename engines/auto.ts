/**
 * The `auto` engine: tries engines in order of expected speed (onnxruntime-node on CUDA when its
 * provider libraries are installed, WebGPU on a hardware adapter, onnxruntime-node on the CPU,
 * WebAssembly), uses the first that loads the bundle, and records in describe() which one it
 * chose and why it skipped the others. A software WebGPU adapter (lavapipe/llvmpipe,
 * SwiftShader, WARP) is never picked: it is far slower than the CPU engine.
 *
 * @module
 */
import type {
  CandidateFilter,
  Engine,
  EngineAvailability,
  EngineCapabilities,
  EngineDescription,
  EngineFactory,
  EngineOptions,
  FeatureHandle,
  HeadOptions,
  HeadOutput,
  ImageInput,
  TextInput,
} from "./engine.ts";
import type { ModelBundle } from "../models/bundle.ts";

/** One engine `auto` may pick, in order of preference. */
export interface AutoCandidate {
  /** Name recorded in describe().selection, e.g. `onnx (cuda)`. */
  label: string;
  /** Loads the factory (lazily: only the runtime of a tried engine is imported). */
  load: () => Promise<EngineFactory>;
  /** Options this candidate adds to the caller's. */
  options: EngineOptions;
  /** Why not to try this candidate here (e.g. no CUDA libraries); undefined to try it. */
  when?: () => Promise<string | undefined>;
}

/** What a WebGPU adapter says about itself (the fields of `GPUAdapterInfo` that matter here). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  /** The WebGPU spec's flag for a software (fallback) adapter. */
  isFallbackAdapter?: boolean;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|\bwarp\b/i;

/**
 * Why an adapter is a software one (a CPU rasterizer behind the WebGPU API), or undefined for a
 * hardware GPU. Deno reports lavapipe as `isFallbackAdapter: true` with the description
 * "llvmpipe (LLVM 15.0.6, 256 bits)"; either sign is enough.
 *
 * @example
 * ```ts
 * import { softwareAdapterReason } from "./auto.ts";
 * const lavapipe = { description: "llvmpipe (LLVM 15.0.6, 256 bits)" };
 * console.assert(softwareAdapterReason(lavapipe) !== undefined);
 * console.assert(softwareAdapterReason({ description: "NVIDIA H200", vendor: "4318" }) === undefined);
 * ```
 */
export function softwareAdapterReason(info: AdapterInfoLike): string | undefined {
  const name = [info.description, info.device, info.architecture, info.vendor]
    .filter((v) => v).join(" ");
  if (info.isFallbackAdapter) return `the adapter (${name || "unnamed"}) is a fallback adapter`;
  if (SOFTWARE_ADAPTER.test(name)) return `the adapter (${name}) is a software renderer`;
  return undefined;
}

/** Skips WebGPU unless the adapter is a hardware GPU. */
async function hardwareAdapterOnly(): Promise<string | undefined> {
  const { requestAdapter } = await import("./ort_web/engine.ts");
  const { adapter, reason } = await requestAdapter();
  if (!adapter) return reason ?? "no WebGPU adapter";
  const software = softwareAdapterReason(adapter.info as AdapterInfoLike);
  return software
    ? `${software}; auto never picks a software GPU (pass --engine webgpu to run on it anyway)`
    : undefined;
}

/** The built-in order: CUDA, a hardware WebGPU adapter, the CPU, WebAssembly. */
export const AUTO_CANDIDATES: readonly AutoCandidate[] = [
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
    label: "webgpu",
    load: async () => (await import("./ort_web/engine.ts")).webgpuEngineFactory,
    options: {},
    when: hardwareAdapterOnly,
  },
  {
    label: "onnx (cpu)",
    load: async () => (await import("./onnx_node/engine.ts")).onnxEngineFactory,
    options: {},
  },
  {
    label: "wasm",
    load: async () => (await import("./ort_web/engine.ts")).wasmEngineFactory,
    options: {},
  },
];

/**
 * The engine `auto` picked, wrapped so that describe() also says why: every call goes to the
 * chosen engine itself (so its private fields are reachable), and `runHeadReduced` exists exactly
 * when the chosen engine has it.
 */
class AutoSelectedEngine implements Engine {
  readonly name: string;
  readonly capabilities: EngineCapabilities;
  readonly runHeadReduced?: (
    image: FeatureHandle,
    text: FeatureHandle,
    filter: CandidateFilter,
    options?: HeadOptions,
  ) => Promise<HeadOutput>;
  readonly #inner: Engine;
  readonly #selection: NonNullable<EngineDescription["selection"]>;

  constructor(inner: Engine, selection: NonNullable<EngineDescription["selection"]>) {
    this.#inner = inner;
    this.#selection = selection;
    this.name = inner.name;
    this.capabilities = inner.capabilities;
    if (inner.runHeadReduced) {
      this.runHeadReduced = (image, text, filter, options) =>
        inner.runHeadReduced!(image, text, filter, options);
    }
  }

  encodeText(text: TextInput): Promise<FeatureHandle> {
    return this.#inner.encodeText(text);
  }

  encodeImage(image: ImageInput): Promise<FeatureHandle> {
    return this.#inner.encodeImage(image);
  }

  runHead(image: FeatureHandle, text: FeatureHandle, options?: HeadOptions): Promise<HeadOutput> {
    return this.#inner.runHead(image, text, options);
  }

  describe(): EngineDescription {
    return { ...this.#inner.describe(), selection: this.#selection };
  }

  dispose(): Promise<void> {
    return this.#inner.dispose();
  }
}

/**
 * An `auto` engine factory over `candidates` (tried in order). The registry's `auto` is
 * {@link autoEngineFactory}, over {@link AUTO_CANDIDATES}; plugins and tests may build their own.
 */
export function autoEngineFactoryOver(candidates: readonly AutoCandidate[]): EngineFactory {
  return {
    name: "auto",
    summary:
      "the fastest engine that works here (onnx cuda, webgpu on a hardware GPU, onnx cpu, wasm), recorded in the run",
    async probe(): Promise<EngineAvailability> {
      const reasons: string[] = [];
      for (const candidate of candidates) {
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
      for (const candidate of candidates) {
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
        return new AutoSelectedEngine(engine, { chosen: candidate.label, skipped });
      }
      throw new Error(
        `auto: no engine could load ${bundle.dir}: ${
          skipped.map((s) => `${s.engine}: ${s.reason}`).join("; ")
        }`,
      );
    },
  };
}

/** The `auto` engine factory. */
export const autoEngineFactory: EngineFactory = autoEngineFactoryOver(AUTO_CANDIDATES);
