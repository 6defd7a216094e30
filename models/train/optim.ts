/**
 * GLIP's optimisation loop pieces, as PyTorch defines them and GLIP configures them:
 *
 * - {@link AdamW}: `torch.optim.AdamW` (betas 0.9/0.999, eps 1e-8, decoupled weight decay
 *   applied as p -= lr x wd x p before the Adam update, bias-corrected moments kept in float32
 *   like PyTorch's for float32 parameters).
 * - {@link clipGradNorm}: `clip_grad_norm_` over all trainable tensors (GLIP's
 *   `SOLVER.CLIP_GRADIENTS` full-model L2 clip at 1.0): scale by max_norm / (norm + 1e-6) when
 *   that is below 1.
 * - {@link PlateauScheduler}: `WarmupReduceLROnPlateau` with no warmup (`WARMUP_ITERS 0` in the
 *   ODinW configs): mode max, factor 0.1, patience 3 (full data: 2), min lr 1e-6, PyTorch's
 *   relative threshold 1e-4. GLIP steps it with the val AP only when the AP is truthy
 *   (`elif metrics:`), so an AP of exactly 0 leaves the schedule alone; so does this.
 * - {@link EarlyStopping}: `AUTO_TERMINATE_PATIENCE` (8 few-shot, 4 full): a val AP below the
 *   best so far counts, an equal or better one resets the count and becomes the best (GLIP saves
 *   `model_best` then); stop when the count reaches the patience.
 *
 * @module
 */

/** One trainable tensor with its optimiser settings (a PyTorch param group of one). */
export interface TrainableTensor {
  name: string;
  values: Float32Array;
  lr: number;
  weightDecay: number;
}

/** AdamW state of one tensor. */
interface Moments {
  m: Float32Array;
  v: Float32Array;
}

/**
 * PyTorch's AdamW (amsgrad off), updating the tensors in place.
 *
 * @example
 * ```ts
 * import { AdamW } from "./optim.ts";
 * const offset = { name: "prompt", values: new Float32Array(4), lr: 0.05, weightDecay: 0.25 };
 * new AdamW([offset]).step(new Map([["prompt", Float32Array.of(1, -1, 2, 0)]]));
 * // the first step moves each value by lr against its gradient's sign
 * console.assert(Math.abs(offset.values[0] + 0.05) < 1e-6 && offset.values[3] === 0);
 * ```
 */
export class AdamW {
  readonly betas: [number, number];
  readonly eps: number;
  #step = 0;
  readonly #moments = new Map<string, Moments>();

  constructor(
    readonly tensors: TrainableTensor[],
    options: { betas?: [number, number]; eps?: number } = {},
  ) {
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.#step;
  }

  /** Applies one update with `gradients` (by tensor name, same sizes). */
  step(gradients: Map<string, Float32Array>): void {
    this.#step++;
    const [b1, b2] = this.betas;
    const correction1 = 1 - b1 ** this.#step;
    const correction2 = 1 - b2 ** this.#step;
    for (const tensor of this.tensors) {
      const grad = gradients.get(tensor.name);
      if (!grad) throw new Error(`AdamW: no gradient for ${tensor.name}`);
      if (grad.length !== tensor.values.length) {
        throw new Error(
          `AdamW: gradient of ${tensor.name} has ${grad.length} values, expected ${tensor.values.length}`,
        );
      }
      let state = this.#moments.get(tensor.name);
      if (!state) {
        state = { m: new Float32Array(grad.length), v: new Float32Array(grad.length) };
        this.#moments.set(tensor.name, state);
      }
      const { m, v } = state;
      const p = tensor.values;
      const stepSize = tensor.lr / correction1;
      const decay = 1 - tensor.lr * tensor.weightDecay;
      const sqrtCorrection2 = Math.sqrt(correction2);
      for (let i = 0; i < p.length; i++) {
        const gi = grad[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        const denominator = Math.sqrt(v[i]) / sqrtCorrection2 + this.eps;
        p[i] = p[i] * decay - stepSize * m[i] / denominator;
      }
    }
  }

  /** The optimiser state, for checkpoints (moments as plain arrays). */
  state(): { step: number; moments: Record<string, { m: number[]; v: number[] }> } {
    return {
      step: this.#step,
      moments: Object.fromEntries(
        [...this.#moments].map(([name, s]) => [name, { m: Array.from(s.m), v: Array.from(s.v) }]),
      ),
    };
  }

  /** Restores {@link state}. */
  restore(state: ReturnType<AdamW["state"]>): void {
    this.#step = state.step;
    this.#moments.clear();
    for (const [name, s] of Object.entries(state.moments)) {
      this.#moments.set(name, { m: Float32Array.from(s.m), v: Float32Array.from(s.v) });
    }
  }

  /** The moments by tensor name (large models save them as tensors rather than JSON). */
  moments(): Map<string, { m: Float32Array; v: Float32Array }> {
    return this.#moments;
  }

  /** Restores the step count and moments saved with {@link moments}. */
  restoreMoments(step: number, moments: Map<string, { m: Float32Array; v: Float32Array }>): void {
    this.#step = step;
    this.#moments.clear();
    for (const [name, s] of moments) this.#moments.set(name, { m: s.m.slice(), v: s.v.slice() });
  }
}

/**
 * Scales `gradients` in place so their joint L2 norm is at most `maxNorm`; returns the norm
 * before clipping.
 */
export function clipGradNorm(gradients: Float32Array[], maxNorm: number): number {
  let sum = 0;
  for (const grad of gradients) for (let i = 0; i < grad.length; i++) sum += grad[i] * grad[i];
  const norm = Math.sqrt(sum);
  const coefficient = maxNorm / (norm + 1e-6);
  if (coefficient < 1) {
    for (const grad of gradients) for (let i = 0; i < grad.length; i++) grad[i] *= coefficient;
  }
  return norm;
}

/**
 * `ReduceLROnPlateau(mode="max")` as GLIP's `WarmupReduceLROnPlateau` drives it.
 *
 * @example
 * ```ts
 * import { PlateauScheduler } from "./optim.ts";
 * const p = { name: "p", values: new Float32Array(1), lr: 0.05, weightDecay: 0 };
 * const plateau = new PlateauScheduler([p], { patience: 1 });
 * for (const ap of [0.3, 0.2, 0.2]) plateau.step(ap);
 * console.assert(Math.abs(p.lr - 0.005) < 1e-12);
 * ```
 */
export class PlateauScheduler {
  best = -Infinity;
  badEpochs = 0;
  readonly factor: number;
  readonly patience: number;
  readonly minLr: number;
  readonly threshold: number;

  constructor(
    readonly tensors: TrainableTensor[],
    options: { factor?: number; patience?: number; minLr?: number; threshold?: number } = {},
  ) {
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 3;
    this.minLr = options.minLr ?? 1e-6;
    this.threshold = options.threshold ?? 1e-4;
  }

  /** Feeds one val AP; returns true when the learning rates were reduced. */
  step(metric: number): boolean {
    if (!metric) return false; // GLIP: `elif metrics:` skips a zero AP
    if (metric > this.best * (1 + this.threshold)) {
      this.best = metric;
      this.badEpochs = 0;
      return false;
    }
    this.badEpochs++;
    if (this.badEpochs <= this.patience) return false;
    let reduced = false;
    for (const tensor of this.tensors) {
      const next = Math.max(tensor.lr * this.factor, this.minLr);
      if (tensor.lr - next > 1e-8) {
        tensor.lr = next;
        reduced = true;
      }
    }
    this.badEpochs = 0;
    return reduced;
  }
}

/** GLIP's auto-termination on the val AP. */
export class EarlyStopping {
  best = 0;
  counter = 0;
  constructor(readonly patience: number) {}

  /** Feeds one val AP; `improved` means it is the new best (save it), `stop` ends training. */
  step(metric: number): { improved: boolean; stop: boolean } {
    if (metric < this.best) {
      this.counter++;
      return { improved: false, stop: this.counter >= this.patience };
    }
    this.counter = 0;
    this.best = metric;
    return { improved: true, stop: false };
  }
}

/**
 * GLIP's selection on the val AP after each epoch: the plateau schedule and auto-termination
 * stepped together, with their state for resuming.
 */
export class ValSelection {
  readonly plateau: PlateauScheduler;
  readonly stopping: EarlyStopping;

  constructor(
    tensors: TrainableTensor[],
    options: { stepPatience: number; stopPatience: number; minLr: number },
  ) {
    this.plateau = new PlateauScheduler(tensors, {
      patience: options.stepPatience,
      minLr: options.minLr,
    });
    this.stopping = new EarlyStopping(options.stopPatience);
  }

  /** Feeds one val AP to both; `improved` marks a new best, `stop` ends training. */
  step(metric: number): { improved: boolean; stop: boolean } {
    this.plateau.step(metric);
    return this.stopping.step(metric);
  }

  /** Whether a restored run had already stopped. */
  get stopped(): boolean {
    return this.stopping.counter >= this.stopping.patience;
  }

  state(): {
    plateau: { best: number; badEpochs: number };
    stopping: { best: number; counter: number };
  } {
    return {
      plateau: { best: this.plateau.best, badEpochs: this.plateau.badEpochs },
      stopping: { best: this.stopping.best, counter: this.stopping.counter },
    };
  }

  restore(state: ReturnType<ValSelection["state"]>): void {
    Object.assign(this.plateau, state.plateau);
    Object.assign(this.stopping, state.stopping);
  }
}
