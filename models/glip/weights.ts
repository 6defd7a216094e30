/**
 * Where the graphs take their parameters from: an official checkpoint (names one-to-one with
 * GLIP's state dict, `module.` stripped) or deterministic random values (the nano model).
 * Every request is recorded with its shape, so a checkpoint with a missing or misshapen tensor
 * fails with a message naming the tensor, and unused checkpoint tensors can be listed.
 *
 * @module
 */
import type { Checkpoint } from "../checkpoint/mod.ts";

/** A source of float32 parameters by official name. */
export interface WeightSource {
  /** The values of `name`, which must have `shape`. */
  get(name: string, shape: number[]): Float32Array;
  /**
   * The transpose of matrix `name` [rows, cols], as linear layers store it ([cols, rows]);
   * sources that hold it transposed already (an exported bundle) return it without a copy.
   */
  getTransposed?(name: string, rows: number, cols: number): Float32Array;
  /**
   * Whether the source holds `name` itself. Exported bundles hold some parameters in the form
   * the graph uses (Swin's expanded relative position bias, the BERT embedding rows in use);
   * builders ask for that form first.
   */
  has?(name: string): boolean;
  /** Names requested so far, with their shapes. */
  readonly requested: Map<string, number[]>;
}

/** A tensor is missing or has the wrong shape. */
export class WeightError extends Error {
  /** The error's name. */
  override name = "WeightError";
}

/** Parameters preloaded from a checkpoint. */
export class CheckpointWeights implements WeightSource {
  readonly requested: Map<string, number[]> = new Map<string, number[]>();
  private constructor(
    readonly source: string,
    readonly values: Map<string, { shape: number[]; data: Float32Array }>,
  ) {}

  /** Parameters from in-memory tensors (tests, converters). */
  static fromMap(
    source: string,
    values: Map<string, { shape: number[]; data: Float32Array }>,
  ): CheckpointWeights {
    return new CheckpointWeights(source, values);
  }

  /** Loads every floating-point tensor of a checkpoint. */
  static async load(checkpoint: Checkpoint): Promise<CheckpointWeights> {
    const values = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, tensor] of checkpoint.tensors) {
      if (!tensor.dtype.startsWith("float") && tensor.dtype !== "bfloat16") continue;
      values.set(name, { shape: tensor.shape, data: await tensor.toFloat32() });
    }
    return new CheckpointWeights(checkpoint.path, values);
  }

  get(name: string, shape: number[]): Float32Array {
    this.requested.set(name, shape);
    const value = this.values.get(name);
    if (!value) {
      throw new WeightError(
        `checkpoint ${this.source}: tensor ${name} is missing (expected shape [${shape}])`,
      );
    }
    const same = value.shape.length === shape.length && value.shape.every((d, i) => d === shape[i]);
    const sameCount = value.data.length === shape.reduce((a, b) => a * b, 1);
    // Scalars saved as [] or [1] are the same parameter.
    if (!same && !(sameCount && shape.length <= 1 && value.shape.length <= 1)) {
      throw new WeightError(
        `checkpoint ${this.source}: tensor ${name} has shape [${value.shape}], expected [${shape}]`,
      );
    }
    return value.data;
  }

  /** Checkpoint tensors no graph asked for (e.g. training-only heads). */
  unused(): string[] {
    return [...this.values.keys()].filter((name) => !this.requested.has(name)).sort();
  }
}

/** A seeded PRNG (mulberry32) with Gaussian samples (Box-Muller). */
export class SeededRandom {
  #state: number;
  #spare: number | null = null;
  constructor(seed: number) {
    this.#state = (seed >>> 0) ^ 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal. */
  normal(): number {
    if (this.#spare !== null) {
      const value = this.#spare;
      this.#spare = null;
      return value;
    }
    const u = Math.max(this.uniform(), 1e-12);
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/** FNV-1a hash of a string, to derive a per-tensor seed. */
function hashName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Deterministic random parameters: each tensor's values depend only on the seed and its name,
 * with scales that keep activations in range (fan-in scaled weights, norms near 1, GLIP's
 * bias0 prior).
 */
export class RandomWeights implements WeightSource {
  readonly requested: Map<string, number[]> = new Map<string, number[]>();
  /**
   * Creates the source; the same seed gives the same values.
   *
   * @param seed Any number; it and a tensor's name decide the tensor's values.
   */
  constructor(readonly seed: number) {}

  get(name: string, shape: number[]): Float32Array {
    this.requested.set(name, shape);
    const count = shape.reduce((a, b) => a * b, 1);
    const random = new SeededRandom(this.seed * 2654435761 + hashName(name));
    const data = new Float32Array(count);
    const fanIn = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const leaf = name.split(".").at(-1)!;
    const isNorm = /(norm|LayerNorm|layer_norm_[vl]|bn)[^.]*\.weight$/.test(name) ||
      /\.(norm\d?)\.weight$/.test(name);
    for (let i = 0; i < count; i++) {
      const n = random.normal();
      if (name.endsWith("relative_position_bias_table")) data[i] = 0.5 * n;
      else if (isNorm) data[i] = 1 + 0.1 * n;
      else if (name.endsWith("embeddings.weight")) data[i] = 0.02 * n;
      else if (leaf === "gamma_v" || leaf === "gamma_l") data[i] = 0.5 + 0.1 * n;
      else if (name.endsWith("bias0")) data[i] = -1.5 + 0.01 * n;
      else if (name.endsWith("log_scale")) data[i] = 0.1 * n;
      else if (name.endsWith("bias_lang")) data[i] = 0.5 * n;
      else if (/scales\.\d+\.scale$/.test(name)) data[i] = 1 + 0.1 * n;
      else if (leaf === "bias") data[i] = 0.05 * n;
      else data[i] = n / Math.sqrt(fanIn);
    }
    return data;
  }
}
