/**
 * `bench --check-parity`: after a run's inference, its engine is checked against the reference
 * (onnxruntime-node on the CPU, fp32) with {@link checkEngineParity} on the run's bundle, at the
 * run's dtype (fp16 against the fp32 reference, at the fp16 tolerance) and a full network input
 * size; the result becomes an entry of the run record's `engineParity`.
 *
 * @module
 */
import type { Dtype, EngineDescription } from "../engines/engine.ts";
import { checkEngineParity, largestInputSize } from "../engines/parity.ts";
import type { ModelBundle } from "../models/bundle.ts";
import { engines, registerBuiltins } from "../core/registries.ts";
import { type ParityCheck, parityCheckOf, standardTolerance } from "./parity_record.ts";
import { readRunRecord } from "./run_record.ts";
import { pathExists } from "../core/fs.ts";

/** What {@link checkRunParity} checks. */
export interface RunParityInput {
  /** The run's model bundle. */
  bundle: ModelBundle;
  /** The engine as the run requested it (a registry name). */
  engineName: string;
  /** How the run's engine described itself after the run. */
  description: EngineDescription;
  /** The run's precision: fp16 is checked against the fp32 reference at the fp16 tolerance. */
  dtype: Dtype;
  /** Network input size. @default largestInputSize(bundle's preprocessing), 800x1344 for GLIP */
  size?: { height: number; width: number };
  /** CPU threads of the engine and the reference. */
  threads?: number;
  /** The run let its GPU engine run nodes on the CPU: so does the check. */
  allowCpuFallback?: boolean;
  /** The run's shard, "i/n". */
  shard?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Whether a run's engine is the reference itself: onnxruntime-node on the CPU at fp32. */
export function isReferenceEngine(engineName: string, description: EngineDescription): boolean {
  return engineName === "onnx" && description.executionProvider === "cpu" &&
    description.dtype === "fp32";
}

/**
 * Checks the run's engine at full size and returns the record entry. The reference engine
 * itself is recorded as the reference (nothing to compare); a check that cannot run (the
 * reference fails to load or run) is recorded as failed, with the error.
 */
export async function checkRunParity(input: RunParityInput): Promise<ParityCheck> {
  const size = input.size ?? largestInputSize(input.bundle.manifest.preprocess);
  const checkedAt = new Date().toISOString();
  const shard = input.shard ? { shard: input.shard } : {};
  const reference = {
    engine: "onnx" as const,
    description: "onnxruntime-node CPU (fp32)",
    libraries: {} as Record<string, string>,
  };
  if (isReferenceEngine(input.engineName, input.description)) {
    input.log?.(`engine parity: ${input.engineName} on the CPU is the reference itself`);
    return {
      role: "reference",
      engine: input.engineName,
      executionProvider: input.description.executionProvider,
      dtype: "fp32",
      size,
      reference: { ...reference, libraries: { ...input.description.libraries } },
      libraries: { ...input.description.libraries },
      notExposed: [],
      outputs: [],
      seconds: 0,
      ok: true,
      failures: [],
      checkedAt,
      ...shard,
    };
  }
  registerBuiltins();
  const started = performance.now();
  input.log?.(
    `engine parity: ${input.engineName} ${input.dtype} against onnxruntime-node CPU at ${size.height}x${size.width}`,
  );
  // an unknown engine is a usage error, not a failed check
  const factory = await engines.get(input.engineName);
  try {
    const result = await checkEngineParity(input.bundle, [factory], {
      size,
      dtype: input.dtype,
      threads: input.threads,
      allowCpuFallback: input.allowCpuFallback,
      log: input.log,
    });
    return parityCheckOf(result, result.engines[0], {
      engine: input.engineName,
      checkedAt,
      ...shard,
    });
  } catch (error) {
    return {
      role: "checked",
      engine: input.engineName,
      executionProvider: input.description.executionProvider,
      dtype: input.dtype,
      size,
      reference,
      libraries: { ...input.description.libraries },
      tolerance: standardTolerance(input.dtype),
      notExposed: [],
      outputs: [],
      detections: { reference: 0, engine: 0, top: 0, matched: 0, required: 0 },
      seconds: (performance.now() - started) / 1000,
      ok: false,
      failures: [`the parity check could not run: ${(error as Error).message}`],
      checkedAt,
      ...shard,
    };
  }
}

/**
 * The parity checks of the record a resumed run replaces (earlier segments' checks are kept);
 * none when there is no record yet.
 */
export async function earlierParityChecks(recordPath: string): Promise<ParityCheck[]> {
  if (!await pathExists(recordPath)) return [];
  return (await readRunRecord(recordPath)).engineParity ?? [];
}
