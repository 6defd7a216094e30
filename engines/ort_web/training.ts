/**
 * The WebGPU training runtime: train-step graphs on onnxruntime-web's WebGPU provider (Deno's
 * `navigator.gpu`), with the engine's refusal of float nodes placed on the CPU and its Softmax
 * decomposition (`createWebGpuSession` rewrites every Softmax of a train-step graph, so forward
 * and gradient read the same correct values at any size; see softmax.ts).
 *
 * @module
 */
import type { TrainingRuntime, TrainingSession } from "../../models/train/runtime.ts";
import { createWebGpuSession } from "./engine.ts";

/** Training sessions on WebGPU; `allowCpuFallback` runs graphs with CPU nodes (and lists them). */
export function webgpuTrainingRuntime(
  options: { allowCpuFallback?: boolean; threads?: number } = {},
): TrainingRuntime & { fallbacks: string[] } {
  const fallbacks: string[] = [];
  return {
    description: `webgpu (onnxruntime-web)${
      options.allowCpuFallback ? ", CPU fallback allowed" : ""
    }`,
    fallbacks,
    async create(model) {
      const { session, fallbacks: found } = await createWebGpuSession(model, options);
      fallbacks.push(...found);
      return {
        run: (feeds, fetches) =>
          (fetches
            ? session.run(feeds as never, fetches)
            : session.run(feeds as never)) as unknown as ReturnType<TrainingSession["run"]>,
        release: () => session.release(),
      };
    },
  };
}
