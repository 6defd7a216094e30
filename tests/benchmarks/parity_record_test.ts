/**
 * A run record's `engineParity` comes from other people's files like every field: a malformed
 * entry, or one that claims a pass its own numbers do not support, is refused with the file,
 * the field and the value, when the record is read (validateRunRecord) and when a report reads
 * it (checkRecordForReport).
 */
import { assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import {
  type ParityCheck,
  parityCheckOf,
  parityFailed,
  validateParityChecks,
  worstByGraph,
} from "../../benchmarks/parity_record.ts";
import { validateRunRecord } from "../../benchmarks/run_record.ts";
import { checkRecordForReport } from "../../reports/record_check.ts";
import { InputError } from "../../core/errors.ts";
import { compareOutput, largestInputSize, type ParityResult } from "../../engines/parity.ts";
import { makeRecord } from "../reports/records.ts";
import { failingCheck, passingCheck } from "../reports/parity_checks.ts";

const WASM = { engine: "wasm", executionProvider: "wasm", dtype: "fp32" };

function refused(value: unknown, field: string, words: string, engine = WASM): void {
  const error = assertThrows(
    () => validateParityChecks(value, "runs/x/run.json", engine),
    InputError,
  );
  assertStringIncludes(error.message, `runs/x/run.json: ${field}: `);
  assertStringIncludes(error.message, words);
}

/** A passing check with one change. */
function changed(change: (check: ParityCheck) => void): ParityCheck[] {
  const check = passingCheck();
  change(check);
  return [check];
}

Deno.test("validateParityChecks() accepts passing and failing checks and the CPU reference on its own run", () => {
  assertEquals(validateParityChecks([passingCheck(), failingCheck()], "f", WASM).length, 2);
  const reference: ParityCheck = {
    ...passingCheck("onnx"),
    role: "reference",
    executionProvider: "cpu",
    tolerance: undefined,
    outputs: [],
    detections: undefined,
  };
  validateParityChecks([reference], "f", {
    engine: "onnx",
    executionProvider: "cpu",
    dtype: "fp32",
  });
  refused([reference], "engineParity[0].role", "only an onnx CPU fp32 run is the reference");
  refused(
    [{ ...reference, detections: passingCheck().detections }],
    "engineParity[0].role",
    "a reference entry is the fp32 CPU reference itself",
    { engine: "onnx", executionProvider: "cpu", dtype: "fp32" },
  );
});

Deno.test("validateParityChecks() refuses a pass that the check's own numbers contradict", () => {
  refused(
    changed((c) => (c.outputs[2] = { ...c.outputs[2], maxAbs: 0.6, scaledError: 0.24 })),
    "engineParity[0].outputs[2].ok",
    "says pass, but max abs error 0.6",
  );
  refused(
    changed((c) => (c.outputs[2] = { ...c.outputs[2], ok: false, outOfTolerance: 0.5 })),
    "engineParity[0].ok",
    "claims a pass that its outputs, detections or failures do not support",
  );
  refused(
    changed((c) => (c.detections = { ...c.detections!, matched: 12 })),
    "engineParity[0].ok",
    "claims a pass",
  );
  refused(changed((c) => (c.failures = ["head: lost"])), "engineParity[0].ok", "claims a pass");
  refused(changed((c) => (c.outputs = [c.outputs[0]])), "engineParity[0].ok", "claims a pass");
  refused(
    [{ ...failingCheck(), failures: [] }],
    "engineParity[0].failures",
    "a failed check must say why",
  );
});

Deno.test("validateParityChecks() refuses malformed entries, naming the field and the value", () => {
  refused({}, "engineParity", "expected array, found object");
  refused([null], "engineParity[0]", "expected object, found null");
  refused(
    changed((c) => ((c as { role: string }).role = "judge")),
    "engineParity[0].role",
    "judge",
  );
  refused(changed((c) => ((c as { dtype: string }).dtype = "fp8")), "engineParity[0].dtype", "fp8");
  refused(changed((c) => (c.size.height = 0)), "engineParity[0].size.height", "expected 1 to 8192");
  refused(changed((c) => (c.size.width = 1.5)), "engineParity[0].size.width", "integer");
  refused(
    changed((c) => ((c.libraries as Record<string, unknown>).x = 1)),
    "engineParity[0].libraries.x",
    "expected string, found number",
  );
  refused(
    changed((c) => ((c.outputs[0] as { graph: string }).graph = "neck")),
    "engineParity[0].outputs[0].graph",
    "neck",
  );
  refused(
    changed((c) => ((c.outputs[0] as { maxAbs: unknown }).maxAbs = "0")),
    "engineParity[0].outputs[0].maxAbs",
    "expected a finite number >= 0",
  );
  refused(
    changed((c) => (c.outputs[0].scaledError = null)),
    "engineParity[0].outputs[0].scaledError",
    "null exactly when maxAbs or scale is null",
  );
  refused(
    changed((c) => (c.outputs[0].outOfTolerance = 2)),
    "engineParity[0].outputs[0].outOfTolerance",
    "fraction",
  );
  refused(
    changed((c) => (c.detections = { ...c.detections!, top: 120 })),
    "engineParity[0].detections",
    "matched, required <= top <= reference",
  );
  refused(
    changed((c) => ((c.tolerance as { relative: unknown }).relative = -1)),
    "engineParity[0].tolerance.relative",
    "-1",
  );
  refused(Array(1001).fill(passingCheck()), "engineParity", "more than 1000 entries");
});

Deno.test("a record with a broken engineParity is refused when read and when a report reads it", () => {
  const record = makeRecord({ engine: "wasm" });
  record.engine.executionProvider = "wasm";
  record.engineParity = changed((c) => (c.detections = { ...c.detections!, matched: 0 }));
  const read = assertThrows(() => validateRunRecord(record, "r.json"), InputError);
  assertStringIncludes(read.message, "r.json: engineParity[0].ok: claims a pass");
  const report = assertThrows(() => checkRecordForReport(record, "r.json"), InputError);
  assertStringIncludes(report.message, "r.json: engineParity[0].ok");
  record.engineParity = [passingCheck(), failingCheck()];
  validateRunRecord(record, "r.json");
  checkRecordForReport(record, "r.json");
  assertEquals(parityFailed(record), true);
  assertEquals(parityFailed({ engineParity: [passingCheck()] }), false);
  assertEquals(parityFailed({}), false);
});

Deno.test("parityCheckOf() keeps a non-finite error as null, which a record can hold and a reader accepts", () => {
  const tolerance = { relative: 1e-3, absolute: 1e-5 };
  const reference = { dims: [2], data: Float32Array.of(1, 2) };
  const nan = compareOutput("head", "centerness_l0", reference, Float32Array.of(1, NaN), tolerance);
  const result: ParityResult = {
    model: "nano",
    size: { height: 64, width: 96 },
    reference: "onnxruntime-node CPU (fp32)",
    referenceLibraries: { "onnxruntime-node": "1.30.0" },
    referenceSeconds: 1,
    ok: false,
    engines: [{
      engine: "webgpu",
      dtype: "fp32",
      executionProvider: "webgpu",
      libraries: { "onnxruntime-web": "1.30.0" },
      notExposed: [],
      outputs: [nan],
      detections: { reference: 3, engine: 3, top: 3, matched: 3, required: 3 },
      tolerance,
      seconds: 2,
      ok: false,
      failures: ["head centerness_l0: NaN"],
    }],
  };
  const check = parityCheckOf(result, result.engines[0], {
    engine: "webgpu",
    checkedAt: "2026-12-02T00:00:00Z",
    shard: "1/2",
  });
  const [read] = validateParityChecks(JSON.parse(JSON.stringify([check])), "f", {
    engine: "webgpu",
    executionProvider: "webgpu",
    dtype: "fp32",
  });
  assertEquals([read.outputs[0].maxAbs, read.outputs[0].scaledError, read.ok], [null, null, false]);
  assertEquals([read.seconds, read.shard, read.size], [3, "1/2", { height: 64, width: 96 }]);
  assertEquals(worstByGraph(read), { head: null });
  // a reference that is not finite itself (a broken bundle) is recorded as a failure too
  const broken = compareOutput(
    "head",
    "x",
    { dims: [1], data: Float32Array.of(NaN) },
    Float32Array.of(1),
    tolerance,
  );
  const withBroken = parityCheckOf(result, { ...result.engines[0], outputs: [broken] }, {
    engine: "webgpu",
    checkedAt: "2026-12-02T00:00:00Z",
  });
  const [readBroken] = validateParityChecks(JSON.parse(JSON.stringify([withBroken])), "f", {
    engine: "webgpu",
    executionProvider: "webgpu",
    dtype: "fp32",
  });
  assertEquals([readBroken.outputs[0].scale, readBroken.outputs[0].scaledError], [null, null]);
  assertEquals(readBroken.outputs[0].ok, false);
  assertEquals(worstByGraph(passingCheck()), { text: 1e-6, image: 2e-6, head: 3e-4 / 2.5 });
});

Deno.test("largestInputSize() is the padded min and max size: 800x1344 for GLIP, 160x256 for nano", () => {
  assertEquals(largestInputSize({ minSize: 800, maxSize: 1333, sizeDivisibility: 32 }), {
    height: 800,
    width: 1344,
  });
  assertEquals(largestInputSize({ minSize: 160, maxSize: 256, sizeDivisibility: 32 }), {
    height: 160,
    width: 256,
  });
  assertEquals(largestInputSize({ minSize: 100, maxSize: 150, sizeDivisibility: 0 }), {
    height: 100,
    width: 150,
  });
});
