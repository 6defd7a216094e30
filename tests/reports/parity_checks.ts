/**
 * Recorded parity checks (`RunRecord.engineParity`) built in memory for record and report
 * tests: a passing wasm check with a text, an image and a head output, from which tests derive
 * failing, reference and malformed ones. The numbers are fixtures, not measurements.
 */
import type { ParityCheck } from "../../benchmarks/parity_record.ts";

/** A passing fp32 check of `engine` at 800x1344 (scaled errors 1e-6, 2e-6 and 1.2e-4). */
export function passingCheck(engine = "wasm"): ParityCheck {
  return {
    role: "checked",
    engine,
    executionProvider: engine,
    dtype: "fp32",
    size: { height: 800, width: 1344 },
    reference: {
      engine: "onnx",
      description: "onnxruntime-node CPU (fp32)",
      libraries: { "onnxruntime-node": "1.30.0" },
    },
    libraries: { "onnxruntime-web": "1.30.0" },
    tolerance: { relative: 1e-3, absolute: 1e-5 },
    notExposed: [],
    outputs: [
      output("text", "lang_hidden", 2, 2e-6),
      output("image", "fpn_p3", 4, 8e-6),
      output("head", "dot_product_logits_l0", 2.5, 3e-4),
    ],
    detections: { reference: 100, engine: 100, top: 20, matched: 20, required: 20 },
    seconds: 12.5,
    ok: true,
    failures: [],
    checkedAt: "2026-12-02T03:00:00.000Z",
  };
}

/** A check whose head is out of tolerance (the WebGPU Softmax fault of issue #21). */
export function failingCheck(engine = "webgpu"): ParityCheck {
  const check = passingCheck(engine);
  check.outputs[2] = {
    ...output("head", "dot_product_logits_l0", 2.85, 0.6),
    outOfTolerance: 0.98,
  };
  check.detections = { reference: 100, engine: 100, top: 20, matched: 3, required: 20 };
  check.ok = false;
  check.failures = [
    "head dot_product_logits_l0 [1,22400,256]: max abs error 6.00e-1; 98.0% of values out of tolerance",
  ];
  return check;
}

function output(
  graph: "text" | "image" | "head",
  name: string,
  scale: number,
  maxAbs: number,
): ParityCheck["outputs"][number] {
  const ok = maxAbs <= 1e-3 * scale + 1e-5;
  return {
    graph,
    output: name,
    dims: [1, 4],
    maxAbs,
    scale,
    scaledError: maxAbs / scale,
    outOfTolerance: ok ? 0 : 0.5,
    ok,
  };
}
