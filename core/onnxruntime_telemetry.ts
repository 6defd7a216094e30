/**
 * onnxruntime-node 1.30 turns on its telemetry (1DS) by default on Linux: every process that
 * creates a session writes `.ses` and `mat-debug-<pid>.log` into the temp folder. A benchmark
 * suite has no business reporting home or leaving files behind, so everything here that creates
 * an onnxruntime-node session first calls {@link turnOffOnnxRuntimeTelemetry}. onnxruntime reads
 * the variable when it creates its environment (the first session), so setting it at that point
 * is enough. A value the user set is kept.
 *
 * @module
 */

/**
 * Sets `ORT_DISABLE_TELEMETRY=1` for this process unless the user set it. Without permission to
 * write environment variables it does nothing: the telemetry files are a nuisance, not a fault.
 *
 * @example
 * ```ts
 * import { turnOffOnnxRuntimeTelemetry } from "./onnxruntime_telemetry.ts";
 * turnOffOnnxRuntimeTelemetry();
 * console.assert(Deno.env.get("ORT_DISABLE_TELEMETRY") !== undefined);
 * ```
 */
export function turnOffOnnxRuntimeTelemetry(): void {
  try {
    if (Deno.env.get("ORT_DISABLE_TELEMETRY") === undefined) {
      Deno.env.set("ORT_DISABLE_TELEMETRY", "1");
    }
  } catch (error) {
    if (
      !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
    ) {
      throw error;
    }
  }
}
