/**
 * Per-stage latency and invocation counts, so every run record shows what it cost.
 * @module
 */
import type { StageTiming } from "./run_record.ts";

/**
 * Records how long each stage took, call by call.
 *
 * @example
 * ```ts
 * import { StageTimer } from "./stage_timer.ts";
 * const timer = new StageTimer();
 * const value = await timer.time("text", () => Promise.resolve(42));
 * console.assert(value === 42 && timer.counts().text === 1);
 * ```
 */
export class StageTimer {
  readonly #samples = new Map<string, number[]>();

  /** Runs `fn`, recording its wall time under `stage`. */
  async time<T>(stage: string, fn: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.record(stage, performance.now() - start);
    }
  }

  /** Records one sample of `ms` milliseconds for `stage`. */
  record(stage: string, ms: number): void {
    let samples = this.#samples.get(stage);
    if (!samples) this.#samples.set(stage, samples = []);
    samples.push(ms);
  }

  /** Every sample so far, per stage, in milliseconds (copies). */
  samples(): Record<string, number[]> {
    return Object.fromEntries([...this.#samples].map(([stage, s]) => [stage, [...s]]));
  }

  /** Invocations per stage. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#samples].map(([stage, s]) => [stage, s.length]));
  }

  /** p50/p90/total per stage. */
  summary(): Record<string, StageTiming> {
    const result: Record<string, StageTiming> = {};
    for (const [stage, samples] of this.#samples) {
      const sorted = [...samples].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      result[stage] = {
        count: sorted.length,
        totalMs: sorted.reduce((a, b) => a + b, 0),
        p50Ms: at(0.5),
        p90Ms: at(0.9),
      };
    }
    return result;
  }
}

/** Peak resident memory of this process in bytes (Linux VmHWM; current RSS elsewhere). */
export function peakRssBytes(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux: fall through to the current RSS
  }
  return Deno.memoryUsage().rss;
}
