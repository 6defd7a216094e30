/**
 * Engines on onnxruntime-web: `webgpu` (Deno's navigator.gpu, our own GPUDevice passed per
 * session, features kept on the GPU between the graphs) and `wasm` (CPU). Sessions load graphs
 * and external weights from bytes (ORT-web cannot resolve relative paths under Deno).
 *
 * The WebGPU engine never falls back silently: node placement is read from ORT's verbose log
 * when each session is created, and a session with float compute on the CPU is refused (or,
 * with `allowCpuFallback`, run and reported in describe()).
 *
 * @module
 */
import type {
  CandidateFilter,
  Engine,
  EngineAvailability,
  EngineDescription,
  EngineFactory,
  EngineOptions,
  FeatureHandle,
  HeadOutput,
  ImageInput,
  TextInput,
} from "../engine.ts";
import { MissingCapabilityError } from "../engine.ts";
import { type GraphFile, type ModelBundle, verifyBundle } from "../../models/bundle.ts";
import { checkedGraphFiles } from "../../models/bundle_files.ts";
import {
  captureOrtLog,
  computeFallbacks,
  installLogInterceptor,
  setOrtLogPassthrough,
} from "./placement.ts";
import { CandidateReducer } from "./candidates.ts";
import { type ExternalData, toFloat16Model } from "../../models/graph/float16.ts";
import { decomposeSoftmax } from "./softmax.ts";
import { OpSizeAudit } from "./op_size_audit.ts";

installLogInterceptor();

type OrtWeb = typeof import("onnxruntime-web/webgpu");
let ortModule: Promise<OrtWeb> | undefined;

let runtimeDir: string | undefined;

/**
 * libwayland warns when the Vulkan loader probes WSI without XDG_RUNTIME_DIR; a private folder
 * silences it. The folder is ours: it is removed when the process exits (Deno's `unload`, which
 * `Deno.exit` and a normal end dispatch), and made again if something removed it meanwhile.
 */
function ensureRuntimeDir(): void {
  const current = Deno.env.get("XDG_RUNTIME_DIR");
  if (current && current !== runtimeDir) return;
  if (runtimeDir) {
    try {
      if (Deno.statSync(runtimeDir).isDirectory) return;
    } catch { /* removed: make a new one below */ }
  } else globalThis.addEventListener("unload", removeRuntimeDir);
  runtimeDir = Deno.makeTempDirSync({ prefix: "glip-xdg-" });
  Deno.chmodSync(runtimeDir, 0o700);
  Deno.env.set("XDG_RUNTIME_DIR", runtimeDir);
}

/** Removes the private XDG_RUNTIME_DIR this process made (if any). */
export function removeRuntimeDir(): void {
  if (!runtimeDir) return;
  try {
    Deno.removeSync(runtimeDir, { recursive: true });
  } catch { /* already gone */ }
}

/** Imports onnxruntime-web (its WebGPU build, which also has the wasm CPU provider) once. */
export function loadOrtWeb(): Promise<OrtWeb> {
  ensureRuntimeDir();
  ortModule ??= import("onnxruntime-web/webgpu");
  return ortModule;
}

const VERSION = "1.30.0";

let initialized = false;

/**
 * Runs the first session creation with ORT-web's thread count set. With more than one thread
 * ORT-web imports its worker script through a `blob:` URL, which Deno's module loader refuses;
 * while the first session is created, `URL.createObjectURL` returns the script's original
 * `file://` URL instead (it remembers the last URL fetched). Later sessions reuse the pool.
 */
async function withFirstInitialization<T>(
  ort: OrtWeb,
  threads: number,
  fn: () => Promise<T>,
): Promise<T> {
  if (initialized) return await fn();
  ort.env.wasm.numThreads = threads;
  if (threads <= 1) {
    initialized = true;
    return await fn();
  }
  const originalFetch = globalThis.fetch;
  const originalCreate = URL.createObjectURL;
  let lastUrl: string | undefined;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    lastUrl = input instanceof Request ? input.url : String(input);
    return originalFetch(input, init);
  };
  URL.createObjectURL = (object: Blob) => lastUrl ?? originalCreate(object);
  try {
    const value = await fn();
    initialized = true;
    return value;
  } finally {
    globalThis.fetch = originalFetch;
    URL.createObjectURL = originalCreate;
  }
}

/**
 * Options of the onnxruntime-web engines: the common ones, and `verbose`, which lets
 * onnxruntime-web's own log (placement, warnings, WGSL shader dumps) through to stderr. Without
 * it nothing onnxruntime-web prints reaches the terminal (a CLI's `--verbose` sets it).
 */
export type OrtWebEngineOptions = EngineOptions;

/** A CPU fallback found where none is allowed. */
export class CpuFallbackError extends Error {
  /** The error's name. */
  override name = "CpuFallbackError";
}

/** The WebGPU adapter, or why there is none. */
export async function requestAdapter(): Promise<{ adapter?: GPUAdapter; reason?: string }> {
  ensureRuntimeDir();
  if (!("gpu" in navigator) || !navigator.gpu) return { reason: "this Deno has no navigator.gpu" };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) {
      return {
        reason:
          "no WebGPU adapter: install a Vulkan driver (Debian: apt-get install mesa-vulkan-drivers for the software one, lavapipe) or run on a machine with a GPU",
      };
    }
    return { adapter };
  } catch (error) {
    return { reason: `requesting a WebGPU adapter failed: ${(error as Error).message}` };
  }
}

type OrtTensor = import("onnxruntime-web/webgpu").Tensor;
type OrtSession = import("onnxruntime-web/webgpu").InferenceSession;

interface Features extends FeatureHandle {
  tensors: OrtTensor[];
}

class OrtWebEngine implements Engine {
  readonly name: string;
  readonly capabilities;
  #zeroOffset: Float32Array;
  #reducer?: CandidateReducer;

  constructor(
    readonly ort: OrtWeb,
    readonly bundle: ModelBundle,
    readonly sessions: { text: OrtSession; image: OrtSession; head: OrtSession },
    readonly settings: {
      name: string;
      provider: "webgpu" | "wasm";
      device: string;
      adapter?: Record<string, unknown>;
      form: "native" | "decomposed";
      cpuFallbackNodes: string[];
      threads: number;
      /** The engine's own device (webgpu), which runs the candidate reduction. */
      gpuDevice?: GPUDevice;
      dtype: "fp32" | "fp16";
      /** webgpu: the op-size audits of the image and head graphs, run per image size. */
      audits?: { image: OpSizeAudit; head: OpSizeAudit };
    },
  ) {
    this.name = settings.name;
    this.capabilities = {
      dtypes: settings.gpuDevice?.features.has("shader-f16")
        ? ["fp32" as const, "fp16" as const]
        : ["fp32" as const],
      deformConvForms: [settings.form],
      deviceResidentFeatures: settings.provider === "webgpu",
      promptOffset: true,
      deviceReduction: settings.gpuDevice !== undefined,
    };
    if (settings.gpuDevice) this.#reducer = new CandidateReducer(settings.gpuDevice);
    const m = bundle.manifest;
    this.#zeroOffset = new Float32Array(m.maxQueryLength * m.textWidth);
  }

  #quiet = { logSeverityLevel: 3 as const };

  async encodeText(text: TextInput): Promise<FeatureHandle> {
    const L = this.bundle.manifest.maxQueryLength;
    const ids = new this.ort.Tensor("int64", BigInt64Array.from(text.inputIds, (v) => BigInt(v)), [
      1,
      L,
    ]);
    const mask = new this.ort.Tensor(
      "int64",
      BigInt64Array.from(text.attentionMask, (v) => BigInt(v)),
      [1, L],
    );
    const out = await this.sessions.text.run({ input_ids: ids, attention_mask: mask }, this.#quiet);
    out.lang_embedded?.dispose();
    const hidden = out.lang_hidden;
    return { kind: "text", tensors: [hidden, mask], dispose: () => hidden.dispose() } as Features;
  }

  /**
   * webgpu: refuses an image size at which the image or head graph has a node past the
   * binding limit whose op type is not verified correct there (before any compute).
   */
  #auditImageSize(height: number, width: number): void {
    const audits = this.settings.audits;
    if (!audits || !this.settings.gpuDevice) return;
    const limit = this.settings.gpuDevice.limits.maxStorageBufferBindingSize;
    const imageDims = { image: [1, 3, height, width] };
    audits.image.check(imageDims, limit);
    const shapes = audits.image.shapes(imageDims);
    const m = this.bundle.manifest;
    const headDims: Record<string, number[]> = {
      lang_hidden: [1, m.maxQueryLength, m.textWidth],
      attention_mask: [1, m.maxQueryLength],
      prompt_offset: [1, m.maxQueryLength, m.textWidth],
    };
    for (const level of [3, 4, 5, 6, 7]) {
      headDims[`fpn_p${level}`] = shapes.get(`fpn_p${level}`)!.dims;
    }
    audits.head.check(headDims, limit);
  }

  async encodeImage(image: ImageInput): Promise<FeatureHandle> {
    this.#auditImageSize(image.height, image.width);
    const input = new this.ort.Tensor("float32", image.data, [1, 3, image.height, image.width]);
    const out = await this.sessions.image.run({ image: input }, this.#quiet);
    const levels = [3, 4, 5, 6, 7].map((i) => out[`fpn_p${i}`]);
    return {
      kind: "image",
      tensors: levels,
      dispose: () => levels.forEach((t) => t.dispose()),
    } as Features;
  }

  async runHead(
    image: FeatureHandle,
    text: FeatureHandle,
    options: { promptOffset?: Float32Array } = {},
  ): Promise<HeadOutput> {
    const out = await this.#head(image, text, options);
    const levels = [];
    for (let l = 0; l < 5; l++) {
      const box = out[`bbox_reg_l${l}`];
      levels.push({
        height: Number(box.dims[2]),
        width: Number(box.dims[3]),
        bboxRegression: (await box.getData(true)) as Float32Array,
        centerness: (await out[`centerness_l${l}`].getData(true)) as Float32Array,
        tokenLogits: (await out[`dot_product_logits_l${l}`].getData(true)) as Float32Array,
      });
    }
    return { tokenCount: this.bundle.manifest.maxQueryLength, levels };
  }

  async runHeadReduced(
    image: FeatureHandle,
    text: FeatureHandle,
    filter: CandidateFilter,
    options: { promptOffset?: Float32Array } = {},
  ): Promise<HeadOutput> {
    if (!this.#reducer) {
      throw new MissingCapabilityError(`${this.name}: device reduction needs the webgpu engine`);
    }
    const out = await this.#head(image, text, options);
    const logits = [0, 1, 2, 3, 4].map((l) => out[`dot_product_logits_l${l}`]);
    try {
      const candidates = await this.#reducer.reduce(
        logits.map((t) => ({ buffer: t.gpuBuffer as GPUBuffer, locations: Number(t.dims[1]) })),
        this.bundle.manifest.maxQueryLength,
        filter,
      );
      const levels = [];
      for (let l = 0; l < 5; l++) {
        const box = out[`bbox_reg_l${l}`];
        levels.push({
          height: Number(box.dims[2]),
          width: Number(box.dims[3]),
          bboxRegression: (await box.getData(true)) as Float32Array,
          centerness: (await out[`centerness_l${l}`].getData(true)) as Float32Array,
          candidates: candidates[l],
        });
      }
      return { tokenCount: this.bundle.manifest.maxQueryLength, levels };
    } finally {
      for (const t of logits) t.dispose();
    }
  }

  async #head(
    image: FeatureHandle,
    text: FeatureHandle,
    options: { promptOffset?: Float32Array },
  ) {
    const m = this.bundle.manifest;
    const [hidden, mask] = (text as Features).tensors;
    const feeds: Record<string, OrtTensor> = {
      lang_hidden: hidden,
      attention_mask: mask,
      prompt_offset: new this.ort.Tensor("float32", options.promptOffset ?? this.#zeroOffset, [
        1,
        m.maxQueryLength,
        m.textWidth,
      ]),
    };
    (image as Features).tensors.forEach((t, i) => (feeds[`fpn_p${i + 3}`] = t));
    return await this.sessions.head.run(feeds, this.#quiet);
  }

  /**
   * The values of text features (`lang_hidden`) or image features (`fpn_p3`..`fpn_p7`), read
   * back from the device (engine parity compares them with the reference).
   */
  async readFeatures(handle: FeatureHandle): Promise<Record<string, Float32Array>> {
    const { kind, tensors } = handle as Features;
    const names = kind === "text" ? ["lang_hidden"] : [3, 4, 5, 6, 7].map((l) => `fpn_p${l}`);
    const out: Record<string, Float32Array> = {};
    for (const [i, name] of names.entries()) {
      out[name] = (await tensors[i].getData()) as Float32Array;
    }
    return out;
  }

  describe(): EngineDescription {
    return {
      engine: this.name,
      executionProvider: this.settings.provider,
      libraries: { "onnxruntime-web": VERSION, deno: Deno.version.deno },
      device: this.settings.device,
      adapter: this.settings.adapter,
      dtype: this.settings.dtype,
      threads: this.settings.threads,
      deformConv: this.settings.form,
      ...(this.settings.cpuFallbackNodes.length
        ? { cpuFallbackNodes: this.settings.cpuFallbackNodes }
        : {}),
    };
  }

  async dispose(): Promise<void> {
    await Promise.all([
      this.sessions.text.release(),
      this.sessions.image.release(),
      this.sessions.head.release(),
    ]);
  }
}

async function loadGraph(bundle: ModelBundle, graph: GraphFile) {
  // checked paths and verified bytes (models/bundle_files.ts), by the locations the graph names
  const files = await checkedGraphFiles(bundle, graph);
  return {
    model: await Deno.readFile(files.model),
    externalData: await Promise.all(
      files.externalData.map(async ({ location, path }) => ({
        path: location,
        data: await Deno.readFile(path),
      })),
    ),
  };
}

async function createEngine(
  name: string,
  provider: "webgpu" | "wasm",
  bundle: ModelBundle,
  options: OrtWebEngineOptions,
): Promise<Engine> {
  await verifyBundle(bundle); // a corrupted or escaping bundle is refused before any device work
  if (options.verbose) setOrtLogPassthrough(true);
  const ort = await loadOrtWeb();
  const dtype = options.dtype ?? "fp32";
  if (dtype === "fp16" && provider !== "webgpu") {
    throw new MissingCapabilityError(
      `${name}: fp16 runs on the webgpu engine (adapters with shader-f16); use fp32 here`,
    );
  }
  const form = options.deformConv ?? "decomposed";
  if (provider === "webgpu" && form === "native" && !options.allowCpuFallback) {
    throw new MissingCapabilityError(
      `${name}: ONNX DeformConv has no WebGPU kernel (it would run on the CPU); use the decomposed head (the default) or --allow-cpu-fallback`,
    );
  }
  const headFile = bundle.manifest.graphs.head[form];
  if (!headFile) {
    throw new MissingCapabilityError(
      `${name}: the bundle ${bundle.dir} has no '${form}' head graph; re-export it with --forms ${form}`,
    );
  }
  let device: GPUDevice | undefined;
  let adapterInfo: Record<string, unknown> | undefined;
  let deviceName = "CPU (onnxruntime-web wasm)";
  if (provider === "webgpu") {
    const { adapter, reason } = await requestAdapter();
    if (!adapter) throw new MissingCapabilityError(`${name}: ${reason}`);
    const limits = adapter.limits;
    if (dtype === "fp16" && !adapter.features.has("shader-f16")) {
      throw new MissingCapabilityError(
        `${name}: fp16 needs the adapter feature shader-f16, which ${
          adapter.info.description || adapter.info.device || "this adapter"
        } lacks; use --dtype fp32`,
      );
    }
    device = await adapter.requestDevice({
      requiredFeatures: dtype === "fp16" ? ["shader-f16"] : [],
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
        maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      },
    });
    const info = adapter.info;
    adapterInfo = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      features: [...adapter.features].sort(),
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    };
    deviceName = `WebGPU: ${info.description || info.device || info.vendor || "adapter"}`;
  }
  const fallbacks: string[] = [];
  // CPU threads of ORT-web (wasm kernels, and CPU nodes of WebGPU sessions); fixed at its first use.
  const threads = Math.max(1, options.threads ?? navigator.hardwareConcurrency ?? 1);
  // The head's token logits stay on the GPU (read back in full, or reduced there first).
  const headOnGpu = Object.fromEntries(
    [0, 1, 2, 3, 4].map((l) => [`dot_product_logits_l${l}`, "gpu-buffer" as const]),
  );
  const audits: Record<string, OpSizeAudit> = {};
  const open = async (graph: GraphFile, keepOnGpu: boolean | Record<string, "gpu-buffer">) => {
    let { model, externalData }: { model: Uint8Array; externalData: ExternalData[] } =
      await loadGraph(bundle, graph);
    if (dtype === "fp16") ({ model, externalData } = toFloat16Model(model, externalData));
    if (provider === "webgpu") {
      // onnxruntime-web's WebGPU Softmax is wrong past the binding limit (softmax.ts)
      model = decomposeSoftmax(model, { float32: dtype === "fp16" }).model;
      audits[graph.file] = new OpSizeAudit(graph.file, model, externalData);
    }
    const ep = provider === "webgpu" ? [{ name: "webgpu", device } as unknown as string] : ["wasm"];
    ort.env.logLevel = "verbose";
    const { value: session, log } = await captureOrtLog(() =>
      withFirstInitialization(ort, threads, () =>
        ort.InferenceSession.create(model, {
          executionProviders: ep,
          externalData,
          logSeverityLevel: 0,
          ...(keepOnGpu && provider === "webgpu"
            ? { preferredOutputLocation: keepOnGpu === true ? "gpu-buffer" as const : keepOnGpu }
            : {}),
        }))
    ).finally(() => (ort.env.logLevel = "warning"));
    if (provider === "webgpu") {
      const found = computeFallbacks(log, model);
      if (found.length && !options.allowCpuFallback) {
        await session.release();
        throw new CpuFallbackError(
          `${name}: ${graph.file} has ${found.length} node(s) that would run on the CPU inside the WebGPU session: ${
            found.slice(0, 8).join(", ")
          }${
            found.length > 8 ? ", ..." : ""
          }. Refusing to run silently; pass --allow-cpu-fallback to run and report them.`,
        );
      }
      fallbacks.push(...found.map((node) => `${graph.file}: ${node}`));
    }
    return session;
  };
  const sessions = {
    text: await open(bundle.manifest.graphs.text, true),
    image: await open(bundle.manifest.graphs.image, true),
    head: await open(headFile, headOnGpu),
  };
  if (device) {
    // the text graph's size is fixed by the bundle; the others are checked per image size
    const L = bundle.manifest.maxQueryLength;
    try {
      audits[bundle.manifest.graphs.text.file].check(
        { input_ids: [1, L], attention_mask: [1, L] },
        device.limits.maxStorageBufferBindingSize,
      );
    } catch (error) {
      await Promise.all(Object.values(sessions).map((s) => s.release()));
      throw error;
    }
  }
  return new OrtWebEngine(ort, bundle, sessions, {
    name,
    provider,
    device: deviceName,
    adapter: adapterInfo,
    form,
    cpuFallbackNodes: fallbacks,
    threads: ort.env.wasm.numThreads ?? 1,
    gpuDevice: device,
    dtype,
    ...(device
      ? {
        audits: { image: audits[bundle.manifest.graphs.image.file], head: audits[headFile.file] },
      }
      : {}),
  });
}

/** The `webgpu` engine factory. */
export const webgpuEngineFactory: EngineFactory = {
  name: "webgpu",
  summary: "onnxruntime-web WebGPU on Deno's navigator.gpu (no silent CPU fallback)",
  async probe(): Promise<EngineAvailability> {
    const { adapter, reason } = await requestAdapter();
    if (!adapter) return { available: false, reason };
    return {
      available: true,
      details: {
        adapter: adapter.info.description || adapter.info.device,
        features: [...adapter.features].sort(),
      },
    };
  },
  create: (bundle, options = {}) => createEngine("webgpu", "webgpu", bundle, options),
};

/** The `wasm` engine factory. */
export const wasmEngineFactory: EngineFactory = {
  name: "wasm",
  summary: "onnxruntime-web WebAssembly CPU (no native addon needed)",
  async probe(): Promise<EngineAvailability> {
    try {
      await loadOrtWeb();
      return { available: true, details: { threads: navigator.hardwareConcurrency ?? 1 } };
    } catch (error) {
      return {
        available: false,
        reason: `cannot load onnxruntime-web (${(error as Error).message}); run 'deno install'`,
      };
    }
  },
  create: (bundle, options = {}) => createEngine("wasm", "wasm", bundle, options),
};

let trainingDevice: Promise<GPUDevice> | undefined;
/** Held for the device's lifetime: wgpu panics when an adapter is collected before its device. */
const held: { adapter?: GPUAdapter } = {};

/**
 * A WebGPU session of onnxruntime-web for an in-memory graph (the train-step graphs), on a
 * device of the adapter's limits shared by such sessions. Float nodes ORT places on the CPU are
 * refused unless `allowCpuFallback`, as the engine refuses them; the nodes found are returned.
 */
export async function createWebGpuSession(
  model: Uint8Array,
  options: {
    allowCpuFallback?: boolean;
    threads?: number;
    label?: string;
    /**
     * `decomposed` rewrites Softmax into ops correct past the binding limit (softmax.ts);
     * `plain` keeps onnxruntime-web's own kernel (the large-op test and the reproduction).
     * @default "decomposed"
     */
    softmax?: "decomposed" | "plain";
  } = {},
): Promise<{ session: OrtSession; fallbacks: string[] }> {
  if ((options.softmax ?? "decomposed") === "decomposed") model = decomposeSoftmax(model).model;
  const ort = await loadOrtWeb();
  trainingDevice ??= (async () => {
    const { adapter, reason } = await requestAdapter();
    if (!adapter) throw new MissingCapabilityError(`webgpu training: ${reason}`);
    held.adapter = adapter;
    const limits = adapter.limits;
    return await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
        maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      },
    });
  })();
  const device = await trainingDevice;
  const threads = Math.max(1, options.threads ?? navigator.hardwareConcurrency ?? 1);
  ort.env.logLevel = "verbose";
  const { value: session, log } = await captureOrtLog(() =>
    withFirstInitialization(ort, threads, () =>
      ort.InferenceSession.create(model, {
        executionProviders: [{ name: "webgpu", device } as unknown as string],
        logSeverityLevel: 0,
      }))
  ).finally(() => (ort.env.logLevel = "warning"));
  const fallbacks = computeFallbacks(log, model);
  if (fallbacks.length && !options.allowCpuFallback) {
    await session.release();
    throw new CpuFallbackError(
      `webgpu: ${
        options.label ?? "a training graph"
      } has ${fallbacks.length} node(s) that would run on the CPU inside the WebGPU session: ${
        fallbacks.slice(0, 8).join(", ")
      }${
        fallbacks.length > 8 ? ", ..." : ""
      }. Refusing to run silently; pass --allow-cpu-fallback to run and report them.`,
    );
  }
  return { session, fallbacks };
}
