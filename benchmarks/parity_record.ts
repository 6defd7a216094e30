/**
 * The run record's `engineParity`: the full-size parity checks of the run's engine against
 * onnxruntime-node on the CPU (`bench --check-parity`), one entry per check (a resumed run keeps
 * the earlier segments' checks, a merged run every shard's). {@link validateParityChecks}
 * refuses an entry from someone else that is malformed or claims a pass its own numbers do not
 * support, naming the file, the field and the value.
 *
 * @module
 */
import type { Dtype } from "../engines/engine.ts";
import type { EngineParity, ParityResult } from "../engines/parity.ts";
import { FP16_TOLERANCE, FP32_TOLERANCE, type Tolerance } from "../engines/parity_tolerance.ts";
import { InputError } from "../core/errors.ts";

/** The model parts whose outputs a check compares. */
export const PARITY_GRAPHS = ["text", "image", "head"] as const;

/** One output of one graph as a record keeps it. */
export interface RecordedOutput {
  /** The model part (graph) the output belongs to. */
  graph: (typeof PARITY_GRAPHS)[number];
  /** The graph output's name, e.g. dot_product_logits_l0. */
  output: string;
  /** Its shape. */
  dims: number[];
  /** Largest absolute difference; `null` when there is no finite one (NaN, missing, wrong size). */
  maxAbs: number | null;
  /** The reference's largest magnitude; `null` when the reference itself is not finite. */
  scale: number | null;
  /** maxAbs / scale; `null` when either is. */
  scaledError: number | null;
  /** Fraction of values outside the tolerance (0..1). */
  outOfTolerance: number;
  /** Every value within the tolerance. */
  ok: boolean;
}

/** One full-size parity check of a run's engine (an entry of `RunRecord.engineParity`). */
export interface ParityCheck {
  /**
   * `checked`: the engine's outputs were compared with the reference's. `reference`: the run's
   * engine is the reference itself (onnxruntime-node CPU, fp32), which nothing is compared with.
   */
  role: "checked" | "reference";
  /** The engine as the run requested it (e.g. webgpu). */
  engine: string;
  /** The engine's execution provider. */
  executionProvider: string;
  /** The engine's precision (fp16 is compared with the fp32 reference). */
  dtype: Dtype;
  /** The network input size checked. */
  size: { height: number; width: number };
  /** What the engine was compared with, and its library version. */
  reference: { engine: "onnx"; description: string; libraries: Record<string, string> };
  /** The engine's libraries and versions (onnxruntime-web, onnxruntime-node). */
  libraries: Record<string, string>;
  /** Pass when maxAbs <= relative * scale + absolute (absent for the reference). */
  tolerance?: Tolerance;
  /** Graphs whose features the engine cannot read back (compared through the head only). */
  notExposed: ("text" | "image")[];
  /** Every output compared (none for the reference). */
  outputs: RecordedOutput[];
  /** The reference's top detections reproduced by the engine (absent for the reference). */
  detections?: {
    reference: number;
    engine: number;
    top: number;
    matched: number;
    required: number;
  };
  /** Seconds the check took (the reference run and the engine's). */
  seconds: number;
  /** Every output within tolerance and enough detections reproduced (or the reference). */
  ok: boolean;
  /** Why it failed, in words (empty when ok). */
  failures: string[];
  /** When the check ran (ISO 8601). */
  checkedAt: string;
  /** The shard ("i/n") whose run made the check. */
  shard?: string;
}

/** The standard tolerance of a dtype (what `bench --check-parity` applies). */
export function standardTolerance(dtype: Dtype): Tolerance {
  return dtype === "fp16" ? FP16_TOLERANCE : FP32_TOLERANCE;
}

/** Whether a tolerance is at most as loose as the standard one of its dtype. */
export function isStandardOrStricter(tolerance: Tolerance, dtype: Dtype): boolean {
  const standard = standardTolerance(dtype);
  return tolerance.relative <= standard.relative && tolerance.absolute <= standard.absolute;
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** The record entry of one engine of a {@link ParityResult}. */
export function parityCheckOf(
  result: ParityResult,
  engine: EngineParity,
  context: { engine: string; checkedAt: string; shard?: string },
): ParityCheck {
  return {
    role: "checked",
    engine: context.engine,
    executionProvider: engine.executionProvider,
    dtype: engine.dtype,
    size: result.size,
    reference: {
      engine: "onnx",
      description: result.reference,
      libraries: result.referenceLibraries,
    },
    libraries: engine.libraries,
    tolerance: engine.tolerance,
    notExposed: engine.notExposed,
    outputs: engine.outputs.map((o) => ({
      graph: o.graph,
      output: o.output,
      dims: o.dims,
      maxAbs: finiteOrNull(o.maxAbs),
      scale: finiteOrNull(o.scale),
      scaledError: finiteOrNull(o.scaledError),
      outOfTolerance: o.outOfTolerance,
      ok: o.ok,
    })),
    detections: engine.detections,
    seconds: result.referenceSeconds + engine.seconds,
    ok: engine.ok,
    failures: engine.failures,
    checkedAt: context.checkedAt,
    ...(context.shard ? { shard: context.shard } : {}),
  };
}

/** The worst scaled error of each model part in a check (`null`: none finite; absent: none). */
export function worstByGraph(
  check: ParityCheck,
): Partial<Record<RecordedOutput["graph"], number | null>> {
  const worst: Partial<Record<RecordedOutput["graph"], number | null>> = {};
  for (const o of check.outputs) {
    const before = worst[o.graph];
    if (before === null) continue;
    worst[o.graph] = o.scaledError === null ? null : Math.max(before ?? 0, o.scaledError);
  }
  return worst;
}

/** Whether a record holds a parity check that failed. */
export function parityFailed(record: { engineParity?: ParityCheck[] }): boolean {
  return (record.engineParity ?? []).some((check) => !check.ok);
}

/** The most entries (checks) and outputs per check a record may hold. */
const MAX_CHECKS = 1000;
const MAX_OUTPUTS = 4096;

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  if (typeof value === "number" && !Number.isFinite(value)) return "non-finite number";
  return typeof value;
}

/** Field-by-field checks; the first bad field throws an InputError. */
class Fields {
  constructor(readonly file: string) {}

  fail(field: string, problem: string, value: unknown): never {
    throw new InputError(problem, { file: this.file, field, value });
  }

  is(field: string, value: unknown, kind: string): void {
    if (kindOf(value) !== kind) this.fail(field, `expected ${kind}, found ${kindOf(value)}`, value);
  }

  count(field: string, value: unknown): number {
    if (!(typeof value === "number" && Number.isInteger(value) && value >= 0)) {
      this.fail(field, "expected an integer >= 0", value);
    }
    return value;
  }

  nonNegative(field: string, value: unknown): number {
    if (!(typeof value === "number" && Number.isFinite(value) && value >= 0)) {
      this.fail(field, "expected a finite number >= 0", value);
    }
    return value;
  }

  oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
    if (!allowed.includes(value as T)) {
      this.fail(field, `expected one of ${allowed.join(", ")}`, value);
    }
    return value as T;
  }

  list(field: string, value: unknown, max: number): unknown[] {
    this.is(field, value, "array");
    const items = value as unknown[];
    if (items.length > max) this.fail(field, `more than ${max} entries (${items.length})`, value);
    return items;
  }

  strings(field: string, value: unknown): void {
    this.list(field, value, MAX_OUTPUTS).forEach((v, i) => this.is(`${field}[${i}]`, v, "string"));
  }

  libraries(field: string, value: unknown): void {
    this.is(field, value, "object");
    for (const [name, version] of Object.entries(value as Record<string, unknown>)) {
      this.is(`${field}.${name}`, version, "string");
    }
  }
}

function checkOutput(f: Fields, field: string, value: unknown, tolerance: Tolerance): void {
  f.is(field, value, "object");
  const o = value as RecordedOutput;
  f.oneOf(`${field}.graph`, o.graph, PARITY_GRAPHS);
  f.is(`${field}.output`, o.output, "string");
  f.list(`${field}.dims`, o.dims, 16).forEach((d, i) => f.count(`${field}.dims[${i}]`, d));
  const scale = o.scale === null ? null : f.nonNegative(`${field}.scale`, o.scale);
  if (o.maxAbs !== null) f.nonNegative(`${field}.maxAbs`, o.maxAbs);
  if (o.scaledError !== null) f.nonNegative(`${field}.scaledError`, o.scaledError);
  if ((o.maxAbs === null || scale === null) !== (o.scaledError === null)) {
    f.fail(
      `${field}.scaledError`,
      "null exactly when maxAbs or scale is null",
      o.scaledError,
    );
  }
  const fraction = f.nonNegative(`${field}.outOfTolerance`, o.outOfTolerance);
  if (fraction > 1) f.fail(`${field}.outOfTolerance`, "expected a fraction from 0 to 1", fraction);
  f.is(`${field}.ok`, o.ok, "boolean");
  // the verdict follows from the numbers: every value within the bound iff the largest is
  const within = o.maxAbs !== null && scale !== null &&
    o.maxAbs <= tolerance.relative * scale + tolerance.absolute && fraction === 0;
  if (o.ok !== within) {
    f.fail(
      `${field}.ok`,
      `says ${o.ok ? "pass" : "fail"}, but max abs error ${o.maxAbs} with ${fraction} out of ` +
        `tolerance against a bound of ${tolerance.relative} x ${scale} + ${tolerance.absolute} ` +
        `is a ${within ? "pass" : "fail"}`,
      o.ok,
    );
  }
}

function checkEntry(f: Fields, field: string, value: unknown): void {
  f.is(field, value, "object");
  const c = value as ParityCheck;
  const role = f.oneOf(`${field}.role`, c.role, ["checked", "reference"] as const);
  f.is(`${field}.engine`, c.engine, "string");
  f.is(`${field}.executionProvider`, c.executionProvider, "string");
  const dtype = f.oneOf(`${field}.dtype`, c.dtype, ["fp32", "fp16"] as const);
  f.is(`${field}.size`, c.size, "object");
  for (const side of ["height", "width"] as const) {
    const n = f.count(`${field}.size.${side}`, c.size[side]);
    if (n < 1 || n > 8192) f.fail(`${field}.size.${side}`, "expected 1 to 8192", n);
  }
  f.is(`${field}.reference`, c.reference, "object");
  f.oneOf(`${field}.reference.engine`, c.reference.engine, ["onnx"] as const);
  f.is(`${field}.reference.description`, c.reference.description, "string");
  f.libraries(`${field}.reference.libraries`, c.reference.libraries);
  f.libraries(`${field}.libraries`, c.libraries);
  f.list(`${field}.notExposed`, c.notExposed, 2).forEach((g, i) =>
    f.oneOf(`${field}.notExposed[${i}]`, g, ["text", "image"] as const)
  );
  f.nonNegative(`${field}.seconds`, c.seconds);
  f.is(`${field}.ok`, c.ok, "boolean");
  f.strings(`${field}.failures`, c.failures);
  f.is(`${field}.checkedAt`, c.checkedAt, "string");
  if (c.shard !== undefined) f.is(`${field}.shard`, c.shard, "string");
  const outputs = f.list(`${field}.outputs`, c.outputs, MAX_OUTPUTS);
  if (role === "reference") {
    if (
      c.ok !== true || outputs.length > 0 || c.failures.length > 0 || dtype !== "fp32" ||
      c.tolerance !== undefined || c.detections !== undefined
    ) {
      f.fail(
        `${field}.role`,
        "a reference entry is the fp32 CPU reference itself: ok, with no outputs, tolerance, " +
          "detections or failures",
        c.role,
      );
    }
    return;
  }
  f.is(`${field}.tolerance`, c.tolerance, "object");
  const tolerance = c.tolerance!;
  f.nonNegative(`${field}.tolerance.relative`, tolerance.relative);
  f.nonNegative(`${field}.tolerance.absolute`, tolerance.absolute);
  outputs.forEach((o, i) => checkOutput(f, `${field}.outputs[${i}]`, o, tolerance));
  f.is(`${field}.detections`, c.detections, "object");
  const d = c.detections!;
  for (const key of ["reference", "engine", "top", "matched", "required"] as const) {
    f.count(`${field}.detections.${key}`, d[key]);
  }
  if (d.matched > d.top || d.required > d.top || d.top > d.reference) {
    f.fail(`${field}.detections`, "expected matched, required <= top <= reference", d);
  }
  const supported = c.failures.length === 0 &&
    c.outputs.some((o) => o.graph === "head") &&
    c.outputs.every((o) => o.ok) &&
    d.matched >= d.required;
  if (c.ok && !supported) {
    f.fail(
      `${field}.ok`,
      "claims a pass that its outputs, detections or failures do not support",
      c.ok,
    );
  }
  if (!c.ok && c.failures.length === 0) {
    f.fail(`${field}.failures`, "a failed check must say why", c.failures);
  }
}

/**
 * Checks a record's `engineParity` (from any file: a hostile or broken one is refused); a
 * `reference` entry is accepted only on a run whose engine is onnxruntime-node on the CPU at
 * fp32. Throws an {@link InputError} naming `file`, the field and its value.
 */
export function validateParityChecks(
  value: unknown,
  file: string,
  engine: { engine: string; executionProvider: string; dtype: string },
): ParityCheck[] {
  const f = new Fields(file);
  const checks = f.list("engineParity", value, MAX_CHECKS);
  checks.forEach((entry, i) => {
    checkEntry(f, `engineParity[${i}]`, entry);
    const check = entry as ParityCheck;
    if (
      check.role === "reference" &&
      !(engine.engine === "onnx" && engine.executionProvider === "cpu" && engine.dtype === "fp32")
    ) {
      f.fail(
        `engineParity[${i}].role`,
        `only an onnx CPU fp32 run is the reference; this run's engine is ${engine.engine} ` +
          `(${engine.executionProvider}, ${engine.dtype})`,
        check.role,
      );
    }
  });
  return checks as ParityCheck[];
}
