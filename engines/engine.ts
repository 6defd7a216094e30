/**
 * The engine contract. An engine runs a model bundle's three graphs: text encoder, image
 * backbone + FPN, and fusion + head. Everything around the network (tokenizer, preprocessing,
 * post-processing) is shared and lives in `models/`.
 *
 * Features returned by {@link Engine.encodeText} and {@link Engine.encodeImage} are opaque
 * handles: a GPU engine may keep them on the device. Callers cache them (per prompt, per image)
 * and must `dispose()` them.
 *
 * @module
 */
import type { DeformConvForm, ModelBundle } from "../models/bundle.ts";
import type { CandidateFilter, HeadOutput, ImageInput } from "../models/engine_types.ts";

// The data types the model code shares with engines live below both (models/engine_types.ts).
export type {
  CandidateFilter,
  HeadLevelOutput,
  HeadOutput,
  ImageInput,
  LevelCandidates,
} from "../models/engine_types.ts";

/** Numeric precision an engine computes in. */
export type Dtype = "fp32" | "fp16";

/** Options every engine accepts; engines ignore what does not apply and say so in describe(). */
export interface EngineOptions {
  /** Intra-op threads for CPU execution. @default the number of cores */
  threads?: number;
  /** Compute precision. @default "fp32" */
  dtype?: Dtype;
  /**
   * GPU engines refuse graphs with nodes placed on the CPU; with this flag they run them and
   * report the nodes in describe(). @default false
   */
  allowCpuFallback?: boolean;
  /** Deformable-conv form of the head graph. @default the engine's preference */
  deformConv?: DeformConvForm;
  /** Execution provider for engines that have several (`cpu`, `cuda`, `tensorrt`). @default "cpu" */
  executionProvider?: string;
  /**
   * Let the runtime's own log (onnxruntime-web prints every WGSL shader it compiles) reach
   * stderr; engines keep it off the terminal otherwise. @default false
   */
  verbose?: boolean;
}

/** Whether an engine can run here, and why not. */
export interface EngineAvailability {
  /** Whether the engine can run here. */
  available: boolean;
  /** Why it is unavailable, and how to make it available. */
  reason?: string;
  /** Extra facts (adapter name, provider libraries found). */
  details?: Record<string, unknown>;
}

/** What an engine can do; asking for a missing capability fails with a clear error. */
export interface EngineCapabilities {
  /** Precisions it computes in. */
  dtypes: Dtype[];
  /** Head graph forms it runs. */
  deformConvForms: DeformConvForm[];
  /** Features stay on the device between graphs. */
  deviceResidentFeatures: boolean;
  /** `runHead` accepts a prompt offset. */
  promptOffset: boolean;
  /** `runHeadReduced` filters candidates on the device and reads back only those. */
  deviceReduction: boolean;
}

/** Provenance recorded in run records. */
export interface EngineDescription {
  /** The engine's registry name (`onnx`, `webgpu`, `wasm`). */
  engine: string;
  /** Execution provider that ran the graphs (`cpu`, `cuda`, `webgpu`, `wasm`). */
  executionProvider: string;
  /** Versions of the runtimes used, by name (`onnxruntime-node`, `onnxruntime-web`, `deno`). */
  libraries: Record<string, string>;
  /** The device, in words (CPU model, GPU adapter). */
  device: string;
  /** GPU engines: the adapter's info as the runtime reports it. */
  adapter?: Record<string, unknown>;
  /** Precision it computed in. */
  dtype: Dtype;
  /** CPU threads, where the engine uses them. */
  threads?: number;
  /** The head graph form it ran. */
  deformConv: DeformConvForm;
  /** Nodes that ran on the CPU inside a GPU session (only with allowCpuFallback). */
  cpuFallbackNodes?: string[];
  /** For `auto`: the engine it chose and why it skipped the others. */
  selection?: { chosen: string; skipped: { engine: string; reason: string }[] };
}

/** Token ids and mask of one prompt, padded to the bundle's max query length. */
export interface TextInput {
  /** Token ids ([CLS] first), padded with zeros. */
  inputIds: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
}

/** An opaque handle to features held by an engine. */
export interface FeatureHandle {
  /** Which graph produced the features. */
  readonly kind: "text" | "image";
  /** Frees the features (on the device for GPU engines). */
  dispose(): void;
}

/** Options of one head run. */
export interface HeadOptions {
  /** [T, D] offset added to the text features before fusion (GLIP prompt tuning). */
  promptOffset?: Float32Array;
}

/** A loaded model on one backend. */
export interface Engine {
  /** The engine's registry name. */
  readonly name: string;
  /** What it can do. */
  readonly capabilities: EngineCapabilities;
  /** Runs the text encoder on one prompt. */
  encodeText(text: TextInput): Promise<FeatureHandle>;
  /** Runs the image backbone and FPN on one preprocessed image. */
  encodeImage(image: ImageInput): Promise<FeatureHandle>;
  /**
   * Runs fusion and the head on an image's and a prompt's features; reads the outputs back to the
   * host.
   */
  runHead(image: FeatureHandle, text: FeatureHandle, options?: HeadOptions): Promise<HeadOutput>;
  /**
   * The head with candidate reduction on the device (engines with `deviceReduction`): levels
   * carry `candidates` instead of `tokenLogits`; post-processing gives the same detections.
   */
  runHeadReduced?(
    image: FeatureHandle,
    text: FeatureHandle,
    filter: CandidateFilter,
    options?: HeadOptions,
  ): Promise<HeadOutput>;
  /** Provenance for the run record. */
  describe(): EngineDescription;
  /** Releases the sessions and their memory; the engine is unusable afterwards. */
  dispose(): Promise<void>;
}

/** What the engine registry holds: a factory that probes and creates engines. */
export interface EngineFactory {
  /** Registry name (`--engine NAME`). */
  name: string;
  /** One line shown by `deno task list`. */
  summary: string;
  /** Whether the engine can run here, without loading a model. */
  probe(): Promise<EngineAvailability>;
  /** Loads a bundle's graphs into a new engine. */
  create(bundle: ModelBundle, options?: EngineOptions): Promise<Engine>;
}

/** Thrown when an engine lacks a capability the caller asked for. */
export class MissingCapabilityError extends Error {
  /** The error's name. */
  override name = "MissingCapabilityError";
}
