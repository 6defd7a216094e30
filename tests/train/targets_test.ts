/**
 * GLIP's training targets (`ATSSLossComputation.prepare_targets`): ATSS positives, token rows,
 * box encoding and centerness targets on anchors laid out as GLIP lays them out.
 */
import { levelAnchors } from "../../models/post/anchors.ts";
import {
  atssTargets,
  decodeBox,
  encodeBox,
  legacyIou,
  lossBoxTensors,
} from "../../models/train/targets.ts";
import { assert, assertAlmostEquals, assertEquals } from "../assert.ts";

const STRIDES = [8, 16, 32, 64, 128];
const SIZES = [64, 128, 256, 512, 1024];

function pyramid(height: number, width: number): Float32Array[] {
  return STRIDES.map((s, i) =>
    levelAnchors(Math.ceil(height / s), Math.ceil(width / s), s, SIZES[i])
  );
}

Deno.test("box encoding uses the legacy +1 widths and weights (10, 10, 5, 5), and decodes back", () => {
  const anchor = [-28, -28, 35, 35];
  // same centre, twice the (+1) width and height
  const box = [3.5 - 63.5, 3.5 - 63.5, 3.5 + 63.5, 3.5 + 63.5];
  const encoded = encodeBox(box, anchor);
  assertAlmostEquals(encoded[0], 0, 1e-12);
  assertAlmostEquals(encoded[2], 5 * Math.log(2), 1e-12);
  const decoded = decodeBox(encoded, anchor);
  decoded.forEach((v, i) => assertAlmostEquals(v, box[i], 1e-9));
  // dw is clamped at log(1000 / 16) before exp
  const huge = decodeBox([0, 0, 100, 0], anchor);
  assertAlmostEquals(huge[2] - huge[0] + 1, 64 * 1000 / 16, 1e-9);
});

Deno.test("IoU counts pixels inclusively (+1), as boxlist_iou does", () => {
  assertEquals(legacyIou([0, 0, 9, 9], [0, 0, 9, 9]), 1);
  // 10x10 and 10x5 overlapping in 10x5 pixels
  assertAlmostEquals(legacyIou([0, 0, 9, 9], [0, 5, 9, 9]), 50 / 100, 1e-12);
  assertEquals(legacyIou([0, 0, 9, 9], [10, 10, 19, 19]), 0);
});

Deno.test("a box equal to an anchor makes that anchor positive with centerness 1 and its tokens as targets", () => {
  const anchors = pyramid(128, 128);
  // level 0 anchor at grid (y=3, x=4): centre (3.5 + 32, 3.5 + 24)
  const box: [number, number, number, number] = [
    35.5 - 31.5,
    27.5 - 31.5,
    35.5 + 31.5,
    27.5 + 31.5,
  ];
  const T = 16;
  const targets = atssTargets(anchors, [{ box, tokens: [2, 3] }], T);
  const index = 3 * 16 + 4;
  assertEquals(targets.matched[index], 0);
  assertEquals(targets.positive[index], 1);
  assertAlmostEquals(targets.centernessTargets[index], 1, 1e-6);
  const row = Array.from(targets.tokenTargets.subarray(index * T, (index + 1) * T));
  assertEquals(row.map((v, t) => v ? t : -1).filter((t) => t >= 0), [2, 3]);
  Array.from(targets.regressionTargets.subarray(index * 4, index * 4 + 4))
    .forEach((v) => assertAlmostEquals(v, 0, 1e-6));
  // negatives: GLIP's "no object" row, 1 on the last token only
  const negative = targets.matched.indexOf(-1);
  const negativeRow = Array.from(targets.tokenTargets.subarray(negative * T, (negative + 1) * T));
  assertEquals(negativeRow.map((v, t) => v ? t : -1).filter((t) => t >= 0), [T - 1]);
  assertEquals(targets.positiveCount, targets.positive.reduce((a, b) => a + b, 0));
  assert(targets.positiveCount >= 1);
});

Deno.test("every positive passes ATSS's three rules, and the threshold is mean + unbiased std", () => {
  const anchors = pyramid(160, 224);
  const box: [number, number, number, number] = [40, 30, 170, 121];
  const targets = atssTargets(anchors, [{ box, tokens: [1] }], 8);
  const all = anchors.flatMap((level) =>
    Array.from({ length: level.length / 4 }, (_, i) => level.subarray(i * 4, i * 4 + 4))
  );
  // candidates: the 9 nearest centres per level
  const centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
  const candidates: number[] = [];
  let start = 0;
  for (const level of anchors) {
    const count = level.length / 4;
    const order = Array.from({ length: count }, (_, i) => start + i).sort((i, j) => {
      const d = (k: number) =>
        Math.hypot(
          (all[k][0] + all[k][2]) / 2 - centre[0],
          (all[k][1] + all[k][3]) / 2 - centre[1],
        );
      return d(i) - d(j) || i - j;
    });
    candidates.push(...order.slice(0, Math.min(9, count)));
    start += count;
  }
  const ious = candidates.map((k) => legacyIou(all[k], box));
  const mean = ious.reduce((a, b) => a + b) / ious.length;
  const std = Math.sqrt(ious.reduce((a, b) => a + (b - mean) ** 2, 0) / (ious.length - 1));
  const expected = candidates.filter((k, c) => {
    const cx = (all[k][0] + all[k][2]) / 2, cy = (all[k][1] + all[k][3]) / 2;
    return ious[c] >= mean + std &&
      Math.min(cx - box[0], cy - box[1], box[2] - cx, box[3] - cy) > 0.01;
  }).sort((a, b) => a - b);
  const actual = [...targets.matched.keys()].filter((k) => targets.matched[k] === 0);
  assertEquals(actual, expected);
  assert(expected.length > 0 && expected.length < candidates.length);
  for (const k of actual) {
    const t = targets.centernessTargets[k];
    assert(t > 0 && t <= 1, `centerness target ${t}`);
  }
  assertAlmostEquals(
    targets.centernessSum,
    actual.reduce((s, k) => s + targets.centernessTargets[k], 0),
    1e-5,
  );
});

Deno.test("an anchor claimed by two boxes goes to the one it overlaps more", () => {
  const anchors = pyramid(128, 128);
  const a: [number, number, number, number] = [4, -4, 67, 59];
  const b: [number, number, number, number] = [10, 0, 60, 50];
  const targets = atssTargets(anchors, [{ box: b, tokens: [1] }, { box: a, tokens: [2] }], 8);
  const index = 3 * 16 + 4; // anchor [4, -4, 67, 59] itself
  assertEquals(targets.matched[index], 1);
  assert(legacyIou([4, -4, 67, 59], a) > legacyIou([4, -4, 67, 59], b));
});

Deno.test("with a single candidate anchor the std is undefined and nothing is positive (as in PyTorch)", () => {
  const anchors = [levelAnchors(1, 1, 8, 64)];
  const targets = atssTargets(anchors, [{ box: [-28, -28, 35, 35], tokens: [1] }], 4);
  assertEquals(targets.positiveCount, 0);
});

Deno.test("loss box tensors: anchor geometry with +1 sizes, negatives keep their anchor as target", () => {
  const anchors = pyramid(64, 64);
  const targets = atssTargets(anchors, [{ box: [8, 8, 50, 40], tokens: [1] }], 4);
  const { anchorGeometry, targetBoxes } = lossBoxTensors(anchors, targets);
  assertEquals(Array.from(anchorGeometry.subarray(0, 4)), [3.5, 3.5, 64, 64]);
  const negative = targets.matched.indexOf(-1);
  const flat = new Float32Array(anchors.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const level of anchors) {
    flat.set(level, o);
    o += level.length;
  }
  assertEquals(
    Array.from(targetBoxes.subarray(negative * 4, negative * 4 + 4)),
    Array.from(flat.subarray(negative * 4, negative * 4 + 4)),
  );
  const positive = targets.matched.indexOf(0);
  targetBoxes.subarray(positive * 4, positive * 4 + 4).forEach((v, i) =>
    assertAlmostEquals(v, [8, 8, 50, 40][i], 1e-3)
  );
});
