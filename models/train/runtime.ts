/**
 * Where training graphs run. The trainers build ONNX graphs in memory and hand them to a
 * runtime: onnxruntime-node (CPU, CUDA) by default, or the WebGPU runtime of the `webgpu` engine
 * (engines/ort_web/training.ts). Feeds are onnxruntime-common tensors either way.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { turnOffOnnxRuntimeTelemetry } from "../../core/onnxruntime_telemetry.ts";

turnOffOnnxRuntimeTelemetry();

/** A session of one training graph. */
export interface TrainingSession {
  run(
    feeds: Record<string, ort.Tensor>,
    fetches?: string[],
  ): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/** Creates training sessions. */
export interface TrainingRuntime {
  /** Where the graphs run, for run records (`onnxruntime-node (cpu)`, `webgpu (...)`). */
  readonly description: string;
  create(model: Uint8Array): Promise<TrainingSession>;
  /**
   * The same engine and options with onnxruntime's CPU memory arena off, for a step recomputed
   * by segments (models/train/recompute.ts): with an arena each segment's session would keep its
   * own peak allocated and the peaks would add up. Absent where there is no such arena (WebGPU);
   * the runtime is then used as it is.
   */
  withoutMemoryArena?(): TrainingRuntime;
}

/** onnxruntime-node with the given session options (execution provider, threads). */
export function onnxRuntime(
  options: ort.InferenceSession.SessionOptions & { executionProviders?: string[] } = {},
): TrainingRuntime {
  return {
    description: `onnxruntime-node (${(options.executionProviders ?? ["cpu"]).join(", ")})`,
    async create(model) {
      const session = await ort.InferenceSession.create(model, options);
      return {
        run: (feeds, fetches) =>
          (fetches ? session.run(feeds, fetches) : session.run(feeds)) as Promise<
            Record<string, ort.Tensor>
          >,
        release: () => session.release(),
      };
    },
    withoutMemoryArena: () => onnxRuntime({ ...options, enableCpuMemArena: false }),
  };
}

/** Training sessions built on first use and kept by key (a graph per shape signature). */
export class SessionCache {
  readonly #sessions = new Map<string, Promise<TrainingSession>>();
  constructor(readonly runtime: TrainingRuntime) {}

  /** The session of `key`, building its graph with `build` the first time. */
  get(key: string, build: () => Uint8Array): Promise<TrainingSession> {
    let session = this.#sessions.get(key);
    if (!session) {
      session = this.runtime.create(build());
      this.#sessions.set(key, session);
    }
    return session;
  }

  async release(): Promise<void> {
    for (const session of this.#sessions.values()) await (await session).release();
    this.#sessions.clear();
  }
}
