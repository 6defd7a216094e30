/**
 * The gate of `trace --compare` on hand-built tensors and detections whose verdict is known:
 * float32 accumulation error and near-tie rank swaps pass; a wrong tensor, a missing detection,
 * a changed label or a clear reordering fail.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import {
  compareDetections,
  compareTensor,
  DEFAULT_TOLERANCE,
  type DetectionSet,
} from "../../models/fidelity.ts";
import { compareWithReference, parsePositiveMap, type TracedTensor } from "../../models/trace.ts";
import { writeNpyFile } from "../../models/npy.ts";
import { InputError } from "../../core/errors.ts";

/** A hidden-state-like tensor: values up to about 30 in magnitude, many of them near zero. */
function hiddenState(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 30 * Math.sin(i * 0.37) ** 5);
}

/** The reference plus a deterministic error of `fraction` of its largest magnitude. */
function withError(reference: Float32Array, fraction: number): Float32Array {
  let scale = 0;
  for (const v of reference) scale = Math.max(scale, Math.abs(v));
  return reference.map((v, i) => v + fraction * scale * Math.cos(i * 1.7));
}

/** numpy's allclose per element, the gate this one replaces. */
function allclose(ours: Float32Array, reference: Float32Array, rtol = 1e-4, atol = 1e-5) {
  return reference.every((r, i) => Math.abs(ours[i] - r) <= atol + rtol * Math.abs(r));
}

Deno.test("compareTensor() passes float32 accumulation error of 1e-5 of the tensor's scale (allclose failed it)", () => {
  const reference = hiddenState(4096);
  const ours = withError(reference, 1e-5);
  assert(!allclose(ours, reference), "the fixture is one the per-element gate rejects");
  const row = compareTensor("fused_text_hidden", { shape: [1, 4096], data: ours }, {
    shape: [1, 4096],
    data: reference,
  }, DEFAULT_TOLERANCE);
  assert(row.ok, JSON.stringify(row));
  assert(Math.abs(row.scale - 30) < 0.1, `scale ${row.scale}`);
  assert(row.scaledError > 0.9e-5 && row.scaledError <= 1.01e-5, `scaled ${row.scaledError}`);
  assert(row.meanAbs > 0 && row.meanAbs < row.maxAbs, `mean ${row.meanAbs} max ${row.maxAbs}`);
});

Deno.test("compareTensor() fails a wrong tensor and points at its worst element", () => {
  const reference = hiddenState(1024);
  const shifted = reference.slice();
  shifted[700] += 0.01; // 3e-4 of the scale: a real error, not rounding
  const row = compareTensor("swin_out3", { shape: [1024], data: shifted }, {
    shape: [1024],
    data: reference,
  }, DEFAULT_TOLERANCE);
  assertEquals(row.ok, false);
  assertEquals(row.worst?.index, 700);
  const other = compareTensor("swin_out3", { shape: [1024], data: hiddenState(1024).reverse() }, {
    shape: [1024],
    data: reference,
  }, DEFAULT_TOLERANCE);
  assertEquals(other.ok, false);
});

Deno.test("compareTensor() fails a shape mismatch and a non-finite value, with a note", () => {
  const reference = hiddenState(8);
  const short = compareTensor("x", { shape: [7], data: reference.slice(1) }, {
    shape: [8],
    data: reference,
  }, DEFAULT_TOLERANCE);
  assertEquals(short.ok, false);
  assertEquals(short.note, "shape [7] vs reference [8]");
  const nan = reference.slice();
  nan[3] = NaN;
  const row = compareTensor("x", { shape: [8], data: nan }, { shape: [8], data: reference }, {
    scaled: 1,
    atol: 1,
  });
  assertEquals(row.ok, false);
  assert(row.note?.includes("index 3"), row.note);
});

Deno.test("compareTensor() keeps an absolute floor for an all-zero reference", () => {
  const zero = new Float32Array(16);
  const shape = [16];
  assert(compareTensor("z", { shape, data: zero }, { shape, data: zero }, DEFAULT_TOLERANCE).ok);
  const small = zero.map(() => 5e-6);
  const within = compareTensor(
    "z",
    { shape, data: small },
    { shape, data: zero },
    DEFAULT_TOLERANCE,
  );
  assert(within.ok);
  assertEquals(within.scaledError, Infinity);
  const over = compareTensor("z", { shape, data: zero.map(() => 2e-5) }, { shape, data: zero }, {
    ...DEFAULT_TOLERANCE,
  });
  assertEquals(over.ok, false);
});

/** Detections as the trace writes them: sorted by score. */
function detections(rows: [label: number, score: number, box: number[]][]): DetectionSet {
  return {
    boxes: Float32Array.from(rows.flatMap((r) => r[2])),
    scores: Float32Array.from(rows.map((r) => r[1])),
    labels: Float32Array.from(rows.map((r) => r[0])),
  };
}

const REFERENCE: [number, number, number[]][] = [
  [1, 0.9, [10, 10, 60, 80]],
  [2, 0.41234567, [100, 20, 180, 90]],
  [2, 0.41234564, [300, 40, 380, 120]], // one float32 step (3e-8) below the one above
  [3, 0.3, [5, 200, 90, 260]],
  [1, 0.06, [400, 400, 420, 430]],
];

/** The reference with the scores of its two near-tied detections exchanged: their ranks swap. */
function nearTieSwapped(): DetectionSet {
  const rows = REFERENCE.map((r) => [...r] as typeof r);
  [rows[1][1], rows[2][1]] = [rows[2][1], rows[1][1]];
  return detections(rows);
}

Deno.test("compareDetections() accepts a swap of two detections whose scores differ by 3e-8", () => {
  const ours = nearTieSwapped();
  const reference = detections(REFERENCE);
  assertEquals(reference.scores[1] - reference.scores[2], 2.9802322387695312e-8);
  const row = compareDetections("dets", ours, reference, DEFAULT_TOLERANCE);
  assert(row.ok, row.problems.join("; "));
  assertEquals(row.matched, 5);
  assertEquals(row.reordered, 2);
});

Deno.test("compareDetections() accepts boxes and scores within rounding and reports the differences", () => {
  const ours = detections(
    REFERENCE.map(([label, score, box]) => [label, score + 2e-6, box.map((v) => v + 1e-3)]),
  );
  const row = compareDetections("dets", ours, detections(REFERENCE), DEFAULT_TOLERANCE);
  assert(row.ok, row.problems.join("; "));
  assert(Math.abs(row.maxScoreDiff - 2e-6) < 1e-7, `${row.maxScoreDiff}`);
  assert(Math.abs(row.maxBoxDiff - 1e-3) < 1e-4, `${row.maxBoxDiff}`);
  assert(row.minIoU > 0.9998 && row.minIoU < 1, `${row.minIoU}`);
});

Deno.test("compareDetections() fails a missing detection", () => {
  const ours = detections(REFERENCE.filter((_, i) => i !== 3));
  const row = compareDetections("dets", ours, detections(REFERENCE), DEFAULT_TOLERANCE, {
    scoreThreshold: 0.05,
    detectionsPerImage: 100,
  });
  assertEquals(row.ok, false);
  assertEquals(row.problems, [
    "missing: label 3 score 0.30000001192092896 box [5.00, 200.00, 90.00, 260.00]",
  ]);
});

Deno.test("compareDetections() fails a changed label (missing on one side, extra on the other)", () => {
  const changed = REFERENCE.map((r) => [...r] as typeof r);
  changed[0][0] = 4;
  const row = compareDetections(
    "dets",
    detections(changed),
    detections(REFERENCE),
    DEFAULT_TOLERANCE,
  );
  assertEquals(row.ok, false);
  assertEquals(row.matched, 4);
  assert(row.problems[0].startsWith("missing: label 1 score 0.89999997"), row.problems[0]);
  assert(row.problems[1].startsWith("extra: label 4 score 0.89999997"), row.problems[1]);
});

Deno.test("compareDetections() fails a rank swap between scores further apart than the tolerance", () => {
  // scores within 1e-4 of the reference each, but the order of 0.9 and 0.89985 is reversed
  const reference = detections([[1, 0.9, [0, 0, 10, 10]], [2, 0.89985, [50, 50, 90, 90]]]);
  const ours = detections([[2, 0.89994, [50, 50, 90, 90]], [1, 0.89992, [0, 0, 10, 10]]]);
  const row = compareDetections("dets", ours, reference, DEFAULT_TOLERANCE);
  assertEquals(row.matched, 2);
  assertEquals(row.ok, false);
  assert(row.problems[0].startsWith("rank swap: label 1 score 0.89999997"), row.problems[0]);
});

Deno.test("compareDetections() fails a box that moved and a score out of tolerance", () => {
  const moved = REFERENCE.map((r) => [...r] as typeof r);
  moved[1] = [2, moved[1][1], [104, 20, 184, 90]];
  assertEquals(
    compareDetections("dets", detections(moved), detections(REFERENCE), DEFAULT_TOLERANCE).ok,
    false,
  );
  const rescored = REFERENCE.map((r) => [...r] as typeof r);
  rescored[3] = [3, 0.3003, rescored[3][2]];
  assertEquals(
    compareDetections("dets", detections(rescored), detections(REFERENCE), DEFAULT_TOLERANCE).ok,
    false,
  );
});

Deno.test("compareDetections() allows a detection on one side only where its score sits at a cut", () => {
  const atThreshold: [number, number, number[]][] = [...REFERENCE, [3, 0.05000003, [0, 0, 5, 5]]];
  const cut = { scoreThreshold: 0.05, detectionsPerImage: 100 };
  const row = compareDetections(
    "dets",
    detections(REFERENCE),
    detections(atThreshold),
    DEFAULT_TOLERANCE,
    cut,
  );
  assert(row.ok, row.problems.join("; "));
  assertEquals(row.atCut, 1);
  // without the cut the same detection is missing
  assertEquals(
    compareDetections("dets", detections(REFERENCE), detections(atThreshold), DEFAULT_TOLERANCE)
      .ok,
    false,
  );
  // at the per-image cut: ours holds the limit, the reference one more tied with our lowest
  const limited = compareDetections(
    "dets",
    detections(REFERENCE),
    detections([...REFERENCE, [2, 0.06000002, [0, 300, 40, 340]]]),
    DEFAULT_TOLERANCE,
    { scoreThreshold: 0.05, detectionsPerImage: 5 },
  );
  assert(limited.ok, limited.problems.join("; "));
  // a detection well above every cut is not excused
  const high = compareDetections(
    "dets",
    detections(REFERENCE),
    detections([...REFERENCE, [2, 0.5, [0, 300, 40, 340]]]),
    DEFAULT_TOLERANCE,
    { scoreThreshold: 0.05, detectionsPerImage: 5 },
  );
  assertEquals(high.ok, false);
});

Deno.test("compareDetections() refuses a set whose arrays disagree on the count", () => {
  const bad = { ...detections(REFERENCE), labels: new Float32Array(4) };
  assertThrows(
    () => compareDetections("dets", bad, detections(REFERENCE), DEFAULT_TOLERANCE),
    RangeError,
    "count labels",
  );
});

async function writeReference(dir: string, tensors: Record<string, TracedTensor>) {
  for (const [name, t] of Object.entries(tensors)) {
    await writeNpyFile(`${dir}/${name}.npy`, { dtype: "float32", shape: t.shape, data: t.data });
  }
}

function tracedDetections(prefix: string, set: DetectionSet): Record<string, TracedTensor> {
  const n = set.scores.length;
  return {
    [`${prefix}_sorted_boxes`]: { shape: [n, 4], data: Float32Array.from(set.boxes) },
    [`${prefix}_sorted_scores`]: { shape: [n], data: Float32Array.from(set.scores) },
    [`${prefix}_sorted_labels`]: { shape: [n], data: Float32Array.from(set.labels) },
  };
}

Deno.test("compareWithReference() gates tensors by scale, detections as sets, and lists unmatched names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fidelity-gate-" });
  try {
    const hidden = hiddenState(512);
    await writeReference(dir, {
      fused_text_hidden: { shape: [1, 512], data: hidden },
      anchors_l0: { shape: [2], data: new Float32Array(2) },
      ...tracedDetections("dets", detections(REFERENCE)),
    });
    const swapped = nearTieSwapped();
    const traced = new Map<string, TracedTensor>(Object.entries({
      fused_text_hidden: { shape: [1, 512], data: withError(hidden, 1e-5) },
      lang_hidden: { shape: [1], data: new Float32Array(1) },
      ...tracedDetections("dets", swapped),
    }));
    const result = await compareWithReference(traced, dir);
    assert(result.ok, JSON.stringify(result));
    assertEquals(result.tensors.map((r) => r.name), ["fused_text_hidden"]);
    assertEquals(result.detections.map((r) => [r.name, r.matched, r.reordered]), [["dets", 5, 2]]);
    assertEquals(result.unreferenced, ["lang_hidden"]);
    assertEquals(result.untraced, ["anchors_l0"]);

    traced.set("dets_sorted_labels", { shape: [5], data: Float32Array.from([1, 2, 2, 3, 3]) });
    const relabelled = await compareWithReference(traced, dir);
    assertEquals(relabelled.ok, false);
    assertEquals(relabelled.detections[0].ok, false);

    await Deno.remove(`${dir}/dets_sorted_labels.npy`);
    await assertRejects(
      () => compareWithReference(traced, dir),
      InputError,
      "has dets_sorted_scores.npy but no dets_sorted_labels.npy",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assertRejects(() => compareWithReference(new Map(), dir), InputError, dir);
});

Deno.test("parsePositiveMap() leaves out labels with no token and refuses bad labels and tokens", () => {
  const map = parsePositiveMap(
    { positive_map_label_to_token: { "1": [1, 2], "2": [], "3": [5] } },
    "m.json",
  );
  assertEquals([...map], [[1, [1, 2]], [3, [5]]]);
  assertThrows(() => parsePositiveMap({ "0": [1] }, "m.json"), InputError, "m.json: 0");
  assertThrows(() => parsePositiveMap({ "1": [-1] }, "m.json"), InputError, "m.json: 1");
  assertThrows(() => parsePositiveMap({ "1": [1.5] }, "m.json"), InputError, "integers >= 0");
  assertThrows(() => parsePositiveMap([[1]], "m.json"), InputError, "label -> tokens");
});

Deno.test("trace refuses the replaced --rtol flag and an IoU above 1 before loading anything", async () => {
  const rtol = await runCli(["trace", "--rtol", "1e-4"]);
  assertEquals(rtol.code, 2);
  assert(rtol.stderr.includes("--rtol was replaced by --scaled-tol"), rtol.stderr);
  const iou = await runCli(["trace", "--min-iou", "2"]);
  assertEquals(iou.code, 2);
  assert(iou.stderr.includes("--min-iou must be between 0 and 1 (got 2)"), iou.stderr);
});
