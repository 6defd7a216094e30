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
  available: boolean;
  /** Why it is unavailable, and how to make it available. */
  reason?: string;
  /** Extra facts (adapter name, provider libraries found). */
  details?: Record<string, unknown>;
}

/** What an engine can do; asking for a missing capability fails with a clear error. */
export interface EngineCapabilities {
  dtypes: Dtype[];
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
  engine: string;
  executionProvider: string;
  libraries: Record<string, string>;
  device: string;
  adapter?: Record<string, unknown>;
  dtype: Dtype;
  threads?: number;
  deformConv: DeformConvForm;
  /** Nodes that ran on the CPU inside a GPU session (only with allowCpuFallback). */
  cpuFallbackNodes?: string[];
  /** For `auto`: the engine it chose and why it skipped the others. */
  selection?: { chosen: string; skipped: { engine: string; reason: string }[] };
}

/** Token ids and mask of one prompt, padded to the bundle's max query length. */
export interface TextInput {
  inputIds: Int32Array;
  attentionMask: Int32Array;
}

/** An opaque handle to features held by an engine. */
export interface FeatureHandle {
  readonly kind: "text" | "image";
  dispose(): void;
}

/** Options of one head run. */
export interface HeadOptions {
  /** [T, D] offset added to the text features before fusion (GLIP prompt tuning). */
  promptOffset?: Float32Array;
}

/** A loaded model on one backend. */
export interface Engine {
  readonly name: string;
  readonly capabilities: EngineCapabilities;
  encodeText(text: TextInput): Promise<FeatureHandle>;
  encodeImage(image: ImageInput): Promise<FeatureHandle>;
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
  describe(): EngineDescription;
  dispose(): Promise<void>;
}

/** What the engine registry holds: a factory that probes and creates engines. */
export interface EngineFactory {
  name: string;
  summary: string;
  probe(): Promise<EngineAvailability>;
  create(bundle: ModelBundle, options?: EngineOptions): Promise<Engine>;
}

/** Thrown when an engine lacks a capability the caller asked for. */
export class MissingCapabilityError extends Error {
  override name = "MissingCapabilityError";
}
