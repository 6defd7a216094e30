/**
 * The `onnx` engine: onnxruntime-node. CPU execution provider with thread settings; CUDA and
 * TensorRT when their provider libraries are installed next to the native binding (they are not
 * in the npm package: onnxruntime-node's install script downloads them, which needs internet and
 * `ONNXRUNTIME_NODE_INSTALL=cuda12`, plus Deno's permission to run lifecycle scripts).
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import type {
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
import type { DeformConvForm, GraphFile, ModelBundle } from "../../models/bundle.ts";
import { checkedGraphFiles } from "../../models/bundle_files.ts";
import { turnOffOnnxRuntimeTelemetry } from "../../core/onnxruntime_telemetry.ts";

type Ort = typeof import("onnxruntime-node");
let ortModule: Promise<Ort> | undefined;

/** Imports onnxruntime-node once. */
function loadOrt(): Promise<Ort> {
  turnOffOnnxRuntimeTelemetry();
  ortModule ??= import("onnxruntime-node");
  return ortModule;
}

const VERSION = "1.30.0";

/** The folder holding libonnxruntime.so and, when installed, the provider libraries. */
function nativeBinaryDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve("onnxruntime-node");
    return join(
      dirname(main),
      "..",
      "bin",
      "napi-v6",
      Deno.build.os === "windows" ? "win32" : Deno.build.os,
      Deno.build.arch === "x86_64" ? "x64" : "arm64",
    );
  } catch {
    return undefined;
  }
}

/** Which GPU provider libraries are present. */
export function providerLibraries(): { cuda: boolean; tensorrt: boolean; dir?: string } {
  const dir = nativeBinaryDir();
  const has = (file: string) => {
    if (!dir) return false;
    try {
      Deno.statSync(join(dir, file));
      return true;
    } catch {
      return false;
    }
  };
  return {
    dir,
    cuda: has("libonnxruntime_providers_cuda.so") && has("libonnxruntime_providers_shared.so"),
    tensorrt: has("libonnxruntime_providers_tensorrt.so"),
  };
}

function missingProviderMessage(provider: string, dir?: string): string {
  return `onnxruntime-node's ${provider} execution provider is not installed: ` +
    `libonnxruntime_providers_${provider}.so is not in ${dir ?? "the onnxruntime-node package"}. ` +
    `The npm package ships only the CPU provider; on a Linux x64 machine with internet and CUDA 12, ` +
    `reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 and allow its install script ` +
    `(deno install --allow-scripts=npm:onnxruntime-node@${VERSION}).`;
}

/** The three graphs of a bundle, each run in its own onnxruntime session. */
export type OnnxGraph = "text" | "image" | "head";

/** How one graph's onnxruntime-node session allocates memory. */
export interface OnnxGraphMemory {
  /**
   * onnxruntime's CPU arena (`enableCpuMemArena`): freed blocks stay reserved for the next run,
   * so the session holds its largest working set for as long as it lives.
   */
  cpuArena: boolean;
  /**
   * onnxruntime's memory pattern (`enableMemPattern`): from the second run on, a run's
   * intermediate tensors come from one planned block instead of one allocation each.
   */
  memoryPattern: boolean;
}

/** Memory settings per graph. */
export type OnnxMemorySettings = Readonly<Record<OnnxGraph, Readonly<OnnxGraphMemory>>>;

/**
 * Named memory settings, each measured with `deno task perf:model --memory NAME` (GLIP-T,
 * 800x1344, 256 tokens, peak RSS of creating the sessions and running twice):
 *
 * - `lean` (the default): every session keeps onnxruntime's arena, and none uses the memory
 *   pattern. 2.12 GiB; the second run peaks where the first did (2.07 GiB).
 * - `no-arena`: the arena off for the image and head graphs, the pattern kept. 2.42 GiB, on the
 *   first run (each intermediate tensor is a separate malloc until the pattern exists).
 * - `arena`: onnxruntime's own default, arena and pattern for every graph. 3.18 GiB: the second
 *   run asks the arena for the pattern's single block, which the freed blocks of the first run
 *   cannot serve, so the arena grows by that block.
 */
export const ONNX_MEMORY_PROFILES: Readonly<
  Record<"lean" | "no-arena" | "arena", OnnxMemorySettings>
> = Object.freeze({
  lean: Object.freeze({
    text: Object.freeze({ cpuArena: true, memoryPattern: false }),
    image: Object.freeze({ cpuArena: true, memoryPattern: false }),
    head: Object.freeze({ cpuArena: true, memoryPattern: false }),
  }),
  "no-arena": Object.freeze({
    text: Object.freeze({ cpuArena: true, memoryPattern: true }),
    image: Object.freeze({ cpuArena: false, memoryPattern: true }),
    head: Object.freeze({ cpuArena: false, memoryPattern: true }),
  }),
  arena: Object.freeze({
    text: Object.freeze({ cpuArena: true, memoryPattern: true }),
    image: Object.freeze({ cpuArena: true, memoryPattern: true }),
    head: Object.freeze({ cpuArena: true, memoryPattern: true }),
  }),
});

/** A named memory profile of the `onnx` engine. */
export type OnnxMemoryProfile = keyof typeof ONNX_MEMORY_PROFILES;

/** Options of the `onnx` engine: the common ones plus its memory settings. */
export interface OnnxEngineOptions extends EngineOptions {
  /** A profile name or explicit settings per graph. @default "lean" */
  memory?: OnnxMemoryProfile | OnnxMemorySettings;
}

/**
 * Resolves the memory option to settings per graph.
 *
 * @throws {RangeError} for an unknown profile name, listing the known ones
 */
export function onnxMemorySettings(
  memory: OnnxEngineOptions["memory"] = "lean",
): OnnxMemorySettings {
  if (typeof memory !== "string") return memory;
  const settings = (ONNX_MEMORY_PROFILES as Record<string, OnnxMemorySettings>)[memory];
  if (!settings) {
    throw new RangeError(
      `onnx: unknown memory profile '${memory}' (${Object.keys(ONNX_MEMORY_PROFILES).join(", ")})`,
    );
  }
  return settings;
}

interface TextFeatures extends FeatureHandle {
  kind: "text";
  hidden: import("onnxruntime-node").Tensor;
  mask: import("onnxruntime-node").Tensor;
}

interface ImageFeatures extends FeatureHandle {
  kind: "image";
  levels: import("onnxruntime-node").Tensor[];
}

class OnnxEngine implements Engine {
  readonly name: string;
  readonly capabilities = {
    dtypes: ["fp32" as const],
    deformConvForms: ["native" as const, "decomposed" as const],
    deviceResidentFeatures: false,
    promptOffset: true,
    deviceReduction: false,
  };
  #zeroOffset: Float32Array;

  constructor(
    readonly ort: Ort,
    readonly bundle: ModelBundle,
    readonly sessions: {
      text: import("onnxruntime-node").InferenceSession;
      image: import("onnxruntime-node").InferenceSession;
      head: import("onnxruntime-node").InferenceSession;
    },
    readonly settings: {
      provider: string;
      threads: number;
      form: DeformConvForm;
      name: string;
      /** The memory settings each graph's session was created with. */
      memory: OnnxMemorySettings;
    },
  ) {
    this.name = settings.name;
    const m = bundle.manifest;
    this.#zeroOffset = new Float32Array(m.maxQueryLength * m.textWidth);
  }

  async encodeText(text: TextInput): Promise<FeatureHandle> {
    const L = this.bundle.manifest.maxQueryLength;
    if (text.inputIds.length !== L || text.attentionMask.length !== L) {
      throw new RangeError(
        `encodeText: ids and mask must have ${L} entries (got ${text.inputIds.length}, ${text.attentionMask.length})`,
      );
    }
    const ids = new this.ort.Tensor("int64", BigInt64Array.from(text.inputIds, (v) => BigInt(v)), [
      1,
      L,
    ]);
    const mask = new this.ort.Tensor(
      "int64",
      BigInt64Array.from(text.attentionMask, (v) => BigInt(v)),
      [1, L],
    );
    const result = await this.sessions.text.run({ input_ids: ids, attention_mask: mask });
    ids.dispose();
    return { kind: "text", hidden: result.lang_hidden, mask, dispose: () => {} } as TextFeatures;
  }

  async encodeImage(image: ImageInput): Promise<FeatureHandle> {
    if (image.height % 32 !== 0 || image.width % 32 !== 0) {
      throw new RangeError(
        `encodeImage: height and width must be multiples of 32 (got ${image.height}x${image.width})`,
      );
    }
    const input = new this.ort.Tensor("float32", image.data, [1, 3, image.height, image.width]);
    const result = await this.sessions.image.run({ image: input });
    return {
      kind: "image",
      levels: [3, 4, 5, 6, 7].map((i) => result[`fpn_p${i}`]),
      dispose: () => {},
    } as ImageFeatures;
  }

  async runHead(
    image: FeatureHandle,
    text: FeatureHandle,
    options: { promptOffset?: Float32Array } = {},
  ): Promise<HeadOutput> {
    const img = image as ImageFeatures;
    const txt = text as TextFeatures;
    if (img.kind !== "image" || txt.kind !== "text") {
      throw new TypeError("runHead: expected (image features, text features)");
    }
    const m = this.bundle.manifest;
    const offset = options.promptOffset ?? this.#zeroOffset;
    if (offset.length !== m.maxQueryLength * m.textWidth) {
      throw new RangeError(
        `runHead: promptOffset must have ${m.maxQueryLength} x ${m.textWidth} values (got ${offset.length})`,
      );
    }
    const feeds: Record<string, import("onnxruntime-node").Tensor> = {
      lang_hidden: txt.hidden,
      attention_mask: txt.mask,
      prompt_offset: new this.ort.Tensor("float32", offset, [1, m.maxQueryLength, m.textWidth]),
    };
    img.levels.forEach((level, i) => (feeds[`fpn_p${i + 3}`] = level));
    const result = await this.sessions.head.run(feeds);
    const levels = [0, 1, 2, 3, 4].map((l) => {
      const box = result[`bbox_reg_l${l}`];
      return {
        height: Number(box.dims[2]),
        width: Number(box.dims[3]),
        bboxRegression: box.data as Float32Array,
        centerness: result[`centerness_l${l}`].data as Float32Array,
        tokenLogits: result[`dot_product_logits_l${l}`].data as Float32Array,
      };
    });
    return { tokenCount: m.maxQueryLength, levels };
  }

  describe(): EngineDescription {
    return {
      engine: this.name,
      executionProvider: this.settings.provider,
      libraries: { "onnxruntime-node": VERSION },
      device: this.settings.provider === "cpu"
        ? `CPU (${availableParallelism()} cores available)`
        : this.settings.provider.toUpperCase(),
      dtype: "fp32",
      threads: this.settings.threads,
      deformConv: this.settings.form,
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

/** The `onnx` engine factory: {@link EngineFactory} whose `create` also takes memory settings. */
export interface OnnxEngineFactory extends EngineFactory {
  /** Loads a bundle's graphs into a new engine, with the memory settings of `options.memory`. */
  create(bundle: ModelBundle, options?: OnnxEngineOptions): Promise<Engine>;
}

/** The `onnx` engine factory. */
export const onnxEngineFactory: OnnxEngineFactory = {
  name: "onnx",
  summary: "onnxruntime-node: CPU (CUDA/TensorRT where their provider libraries are installed)",
  async probe(): Promise<EngineAvailability> {
    try {
      await loadOrt();
    } catch (error) {
      return {
        available: false,
        reason: `cannot load onnxruntime-node (${(error as Error).message}); run 'deno install'`,
      };
    }
    const libraries = providerLibraries();
    return {
      available: true,
      details: {
        version: VERSION,
        executionProviders: [
          "cpu",
          ...(libraries.cuda ? ["cuda"] : []),
          ...(libraries.tensorrt ? ["tensorrt"] : []),
        ],
        ...(libraries.cuda ? {} : { cuda: missingProviderMessage("cuda", libraries.dir) }),
      },
    };
  },
  async create(bundle: ModelBundle, options: OnnxEngineOptions = {}): Promise<Engine> {
    const ort = await loadOrt();
    const provider = options.executionProvider ?? "cpu";
    if (!["cpu", "cuda", "tensorrt"].includes(provider)) {
      throw new MissingCapabilityError(
        `onnx: unknown execution provider '${provider}' (cpu, cuda or tensorrt)`,
      );
    }
    const libraries = providerLibraries();
    if (provider === "cuda" && !libraries.cuda) {
      throw new MissingCapabilityError(missingProviderMessage("cuda", libraries.dir));
    }
    if (provider === "tensorrt" && !libraries.tensorrt) {
      throw new MissingCapabilityError(missingProviderMessage("tensorrt", libraries.dir));
    }
    if (options.dtype && options.dtype !== "fp32") {
      throw new MissingCapabilityError(
        `onnx: dtype ${options.dtype} is not supported on onnxruntime-node here; use fp32 (or the webgpu engine for fp16)`,
      );
    }
    const form = options.deformConv ?? "native";
    const headFile = bundle.manifest.graphs.head[form];
    if (!headFile) {
      throw new MissingCapabilityError(
        `onnx: the bundle ${bundle.dir} has no '${form}' head graph; re-export it with --forms ${form}`,
      );
    }
    const threads = options.threads ?? availableParallelism();
    const memory = onnxMemorySettings(options.memory);
    // checked paths and verified bytes (models/bundle_files.ts); ORT reads the external data
    const open = async (graph: GraphFile, name: OnnxGraph) =>
      ort.InferenceSession.create((await checkedGraphFiles(bundle, graph)).model, {
        executionProviders: [provider],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
        enableCpuMemArena: memory[name].cpuArena,
        enableMemPattern: memory[name].memoryPattern,
      });
    const sessions = {
      text: await open(bundle.manifest.graphs.text, "text"),
      image: await open(bundle.manifest.graphs.image, "image"),
      head: await open(headFile, "head"),
    };
    return new OnnxEngine(ort, bundle, sessions, {
      provider,
      threads,
      form,
      name: this.name,
      memory,
    });
  },
};
