/**
 * The run fingerprint: what produces a run folder's results, written to `fingerprint.json`
 * (temp file + rename) before the first detection is stored. `--resume` compares the fingerprint
 * of the run it would continue with the one on disk and refuses any difference, naming each
 * field and both values, so one folder never mixes two models', prompts', engines' or dtypes'
 * detections.
 *
 * The fingerprint also keeps the run's request (what to pass to `runBenchmark` to run it again),
 * which `--reproduce` uses; the request is not compared on resume (a moved bundle folder with the
 * same bytes, or another thread count, is the same run).
 *
 * @module
 */
import { join } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { parseJsonText } from "../core/json.ts";
import { showValue } from "../core/errors.ts";
import type { EngineDescription } from "../engines/engine.ts";
import { bundleDigest, type ModelBundle } from "../models/bundle.ts";
import { sha256Hex, SUITE_VERSION } from "./provenance.ts";
import type { PreparedTask } from "./runner.ts";
import type { Shard } from "./shard.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";
import { readTextIfPresent } from "../core/fs.ts";

/** The schema identifier written into every fingerprint. */
export const RUN_FINGERPRINT_SCHEMA = "glip-bench/run-fingerprint" as const;
/** Current fingerprint version; readers refuse others. */
export const RUN_FINGERPRINT_VERSION = 1 as const;
/** The fingerprint's file name inside a run folder. */
export const FINGERPRINT_FILE = "fingerprint.json";

/** How to run one (model, engine) run of a suite again: `runBenchmark` options, as data. */
export interface BenchRequest {
  /** The suite name. */
  suite: string;
  /** The protocol (zero-shot, few-shot, prompt-tuning). */
  protocol: string;
  /** The engine that produces the detections. */
  engine: string;
  /** The `--model` value as an absolute path; absent for the demo's own model. */
  model?: string;
  /** Architecture preset of a `.pth` model. */
  modelConfig?: string;
  /** Task names, in run order. */
  tasks: string[];
  /** Task set, where one was given. */
  set?: string;
  /** Prompt variant, where one was given. */
  prompt?: string;
  /** Split, where one was given. */
  split?: string;
  /** Absolute data root (the generated demo data for the demo). */
  dataRoot?: string;
  /** Whether the embedded demo ran. */
  demo: boolean;
  /** The first N images of each task (a smoke run). */
  limit?: number;
  /** Shard `i/n`. */
  shard?: string;
  /** CPU threads per engine. */
  threads?: number;
  /** Compute precision. */
  dtype: string;
  /** Whether GPU engines could run nodes on the CPU. */
  allowCpuFallback: boolean;
  /**
   * Native trainer: at most this many epochs. Not compared like the rest: a resume may raise it
   * (each unfinished cell continues), never lower it.
   */
  epochs?: number;
  /** Native trainer: the `--train-memory` budget in bytes, where one was given. */
  trainMemoryBytes?: number;
}

/** What produces a run's results. Every field but `request` must match on resume. */
export interface RunFingerprint {
  /** Always {@link RUN_FINGERPRINT_SCHEMA}. */
  schema: typeof RUN_FINGERPRINT_SCHEMA;
  /** Always {@link RUN_FINGERPRINT_VERSION}. */
  version: typeof RUN_FINGERPRINT_VERSION;
  /** The suite name. */
  suite: string;
  /** glip-bench's version (deno.json). */
  suiteVersion: string;
  /** The protocol (zero-shot, few-shot, prompt-tuning). */
  protocol: string;
  /** Task set (odinw13, odinw35), or null where the suite has none. */
  taskSet: string | null;
  /** Prompt variant (raw, engineered). */
  promptVariant: string;
  /** Per task: split, the annotation file's sha256 and each prompt chunk's hash. */
  tasks: Record<string, { split: string; annotationSha256: string; promptHashes: string[] }>;
  /** The bundle: its sha256 (from models/bundle.ts) and architecture. */
  model: { bundleSha256: string; configName: string } | null;
  /** The engine that produces the detections. */
  engine: {
    /** The engine asked for (`auto` included). */
    requested: string;
    /** The engine that ran (what `auto` chose). */
    name: string;
    /** Execution provider (cpu, cuda, webgpu, wasm). */
    executionProvider: string;
    /** Compute precision. */
    dtype: string;
    /** Whether GPU engines could run nodes on the CPU. */
    allowCpuFallback: boolean;
  };
  /** Post-processing settings (thresholds, top-k, NMS, detections per image). */
  postprocess: Record<string, unknown>;
  /** Preprocessing settings (sizes, mean, std). */
  preprocess: Record<string, unknown>;
  /** The first N images of each task (a smoke run). */
  limit: number | null;
  /** Shard `i/n`. */
  shard: string | null;
  /** Whether the embedded demo ran. */
  demo: boolean;
  /** Adapting protocols: where the adapted weights come from. */
  adaptation: Record<string, unknown> | null;
  /** How to run it again; not compared on resume. */
  request: BenchRequest;
}

/** What a fingerprint is computed from. */
export interface FingerprintInput {
  /** The suite name. */
  suite: string;
  /** The protocol. */
  protocol: string;
  /** Task set, where the suite has one. */
  taskSet?: string;
  /** Prompt variant. */
  promptVariant: string;
  /** The prepared tasks (prompts, annotation files). */
  prepared: PreparedTask[];
  /** The model bundle (none: adapted checkpoints alone, without a base model). */
  bundle?: ModelBundle;
  /** The engine name asked for. */
  requestedEngine: string;
  /** What the created engine says about itself. */
  engine: Pick<EngineDescription, "engine" | "executionProvider" | "dtype">;
  /** Whether GPU engines may run nodes on the CPU. */
  allowCpuFallback: boolean;
  /** Overrides of the bundle's post-processing settings. */
  postprocess?: Record<string, unknown>;
  /** The first N images of each task. */
  limit?: number;
  /** The shard run. */
  shard?: Shard;
  /** Whether the embedded demo runs. */
  demo: boolean;
  /** Adapting protocols: the source of the adapted weights. */
  adaptation?: Record<string, unknown>;
  /** How to run it again. */
  request: BenchRequest;
}

/**
 * The identity of a bundle as runs record it. Every run-record and fingerprint writer goes
 * through here, so the bundle's identity comes from one function of models/bundle.ts.
 */
export async function bundleSha256Of(bundle: ModelBundle): Promise<string> {
  return await bundleDigest(bundle);
}

/** Computes the fingerprint of a run about to start. */
export async function runFingerprint(input: FingerprintInput): Promise<RunFingerprint> {
  const tasks: RunFingerprint["tasks"] = {};
  const hashes = new Map<string, string>();
  for (const p of input.prepared) {
    const file = p.task.annotationFile;
    if (!hashes.has(file)) hashes.set(file, await sha256Hex(await Deno.readFile(file)));
    tasks[p.task.name] = {
      split: p.task.split,
      annotationSha256: hashes.get(file)!,
      promptHashes: p.prompts.map((prompt) => prompt.hash),
    };
  }
  const manifest = input.bundle?.manifest;
  return {
    schema: RUN_FINGERPRINT_SCHEMA,
    version: RUN_FINGERPRINT_VERSION,
    suite: input.suite,
    suiteVersion: SUITE_VERSION,
    protocol: input.protocol,
    taskSet: input.taskSet ?? null,
    promptVariant: input.promptVariant,
    tasks,
    model: input.bundle && manifest
      ? { bundleSha256: await bundleSha256Of(input.bundle), configName: manifest.configName }
      : null,
    engine: {
      requested: input.requestedEngine,
      name: input.engine.engine,
      executionProvider: input.engine.executionProvider,
      dtype: input.engine.dtype,
      allowCpuFallback: input.allowCpuFallback,
    },
    postprocess: { ...manifest?.postprocess, ...input.postprocess },
    preprocess: { ...manifest?.preprocess },
    limit: input.limit ?? null,
    shard: input.shard ? `${input.shard.index}/${input.shard.count}` : null,
    demo: input.demo,
    adaptation: input.adaptation ?? null,
    request: input.request,
  };
}

/** Flattens a value into `path -> JSON` leaves (`tasks.DemoShapes.promptHashes[0]`). */
function leaves(value: unknown, path: string, out: Map<string, string>): void {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, "[]");
    value.forEach((v, i) => leaves(v, `${path}[${i}]`, out));
  } else if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.set(path, "{}");
    for (const [key, v] of entries) leaves(v, path ? `${path}.${key}` : key, out);
  } else {
    out.set(path, showValue(value));
  }
}

/**
 * The fields in which two fingerprints differ (the request excluded), as
 * `field: stored value -> new value` lines; empty when they describe the same run.
 *
 * @example
 * ```ts
 * import { fingerprintDifferences } from "./run_fingerprint.ts";
 * const a = { suite: "odinw", model: { bundleSha256: "aa" }, request: { model: "x" } };
 * const b = { suite: "odinw", model: { bundleSha256: "bb" }, request: { model: "y" } };
 * console.assert(fingerprintDifferences(a, b)[0] === 'model.bundleSha256: "aa" -> "bb"');
 * ```
 */
export function fingerprintDifferences(stored: object, current: object): string[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  const { request: _a, ...storedRest } = stored as Record<string, unknown>;
  const { request: _b, ...currentRest } = current as Record<string, unknown>;
  leaves(storedRest, "", a);
  leaves(currentRest, "", b);
  const fields = [...new Set([...a.keys(), ...b.keys()])];
  return fields.filter((f) => a.get(f) !== b.get(f)).map((f) =>
    `${f}: ${a.get(f) ?? "(absent)"} -> ${b.get(f) ?? "(absent)"}`
  );
}

/** Checks that `data` has a fingerprint's shape; returns it typed or names the bad field. */
export function validateFingerprint(data: unknown, file: string): RunFingerprint {
  const fail = (field: string, problem: string, value: unknown): never => {
    throw new InputError(problem, { file, field, value });
  };
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    fail("(root)", "expected a JSON object", data);
  }
  const f = data as RunFingerprint;
  if (f.schema !== RUN_FINGERPRINT_SCHEMA) {
    fail("schema", `not a run fingerprint (expected "${RUN_FINGERPRINT_SCHEMA}")`, f.schema);
  }
  if (f.version !== RUN_FINGERPRINT_VERSION) {
    fail(
      "version",
      `unsupported version; this glip-bench reads ${RUN_FINGERPRINT_VERSION}`,
      f.version,
    );
  }
  for (const key of ["suite", "suiteVersion", "protocol", "promptVariant"] as const) {
    if (typeof f[key] !== "string") fail(key, "expected a string", f[key]);
  }
  for (const key of ["tasks", "engine", "postprocess", "request"] as const) {
    const value = f[key];
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      fail(key, "expected an object", value);
    }
  }
  for (const [name, task] of Object.entries(f.tasks)) {
    if (!Array.isArray(task?.promptHashes)) {
      fail(`tasks.${name}.promptHashes`, "expected an array", task?.promptHashes);
    }
  }
  if (f.model !== null && typeof f.model?.bundleSha256 !== "string") {
    fail("model.bundleSha256", "expected a string (or model null)", f.model?.bundleSha256);
  }
  for (const key of ["name", "executionProvider", "dtype"] as const) {
    if (typeof f.engine[key] !== "string") {
      fail(`engine.${key}`, "expected a string", f.engine[key]);
    }
  }
  const request = f.request;
  for (const key of ["suite", "protocol", "engine", "dtype"] as const) {
    if (typeof request[key] !== "string") fail(`request.${key}`, "expected a string", request[key]);
  }
  if (!Array.isArray(request.tasks) || request.tasks.some((t) => typeof t !== "string")) {
    fail("request.tasks", "expected an array of task names", request.tasks);
  }
  return f;
}

/** Reads a run folder's fingerprint; undefined when it has none. */
export async function readFingerprint(dir: string): Promise<RunFingerprint | undefined> {
  const file = join(dir, FINGERPRINT_FILE);
  const text = await readTextIfPresent(file);
  if (text === undefined) return undefined;
  return validateFingerprint(parseJsonText(text, file), file);
}

/**
 * Records `fingerprint` as what produces the results of run folder `dir`, before any detection
 * is stored. A fresh run refuses a folder that holds another run's fingerprint; a resumed run
 * refuses any difference from the stored one (exit 2, each field with both values) and a folder
 * with detections but no fingerprint (nothing says what produced them).
 */
export async function claimFingerprint(
  dir: string,
  fingerprint: RunFingerprint,
  options: { resume: boolean; detectionsFiles: string[] },
): Promise<void> {
  const file = join(dir, FINGERPRINT_FILE);
  const stored = await readFingerprint(dir);
  if (stored && !options.resume) {
    throw new InputError(
      "holds an earlier run; pass --resume to continue it or choose another --out",
      { file },
    );
  }
  if (stored) {
    const differences = fingerprintDifferences(stored, fingerprint);
    if (differences.length > 0) {
      throw new UsageError(
        `bench --resume: ${dir} holds a run of something else; it differs in ${differences.length} field(s) (stored -> this run):\n  ${
          differences.slice(0, 12).join("\n  ")
        }${
          differences.length > 12 ? `\n  ... and ${differences.length - 12} more` : ""
        }\nresume with the settings it was started with, or choose another --out`,
      );
    }
    return;
  }
  if (options.resume) {
    for (const detections of options.detectionsFiles) {
      const size = await Deno.stat(detections).then((s) => s.size, () => 0);
      if (size > 0) {
        throw new InputError(
          `holds detections but no ${FINGERPRINT_FILE} (written by an older glip-bench, or not by glip-bench): nothing says what produced them, so they cannot be resumed; start a new --out`,
          { file: detections },
        );
      }
    }
  }
  await writeFileAtomic(file, JSON.stringify(fingerprint, null, 2) + "\n");
}
