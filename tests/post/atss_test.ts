/**
 * ATSS post-processing on hand-built head outputs whose right answer is known.
 */
import { assert, assertEquals } from "../assert.ts";
import { candidateFilter, postprocessAtss, scoredLabels } from "../../models/post/atss.ts";
import { levelAnchors } from "../../models/post/anchors.ts";
import { GLIP_POSTPROCESS } from "../../models/glip/config.ts";
import type { HeadOutput } from "../../engines/engine.ts";

const T = 8;
const LOW = -20; // sigmoid ~ 2e-9: never a candidate

/** Five tiny levels (2x2 at stride 8, then 1x1), all logits LOW, regression 0, centerness 0. */
function emptyHead(): HeadOutput {
  const sizes = [[2, 2], [1, 1], [1, 1], [1, 1], [1, 1]];
  return {
    tokenCount: T,
    levels: sizes.map(([h, w]) => ({
      height: h,
      width: w,
      bboxRegression: new Float32Array(4 * h * w),
      centerness: new Float32Array(h * w),
      tokenLogits: new Float32Array(h * w * T).fill(LOW),
    })),
  };
}

const sizes = { resized: { width: 64, height: 48 }, original: { width: 128, height: 96 } };
const map = new Map([[1, [1]], [2, [2, 3]], [3, []]]);

Deno.test("anchors: stride 8, size 64 centred at 3.5 (GLIP's cell anchor [-28, -28, 35, 35])", () => {
  assertEquals([...levelAnchors(2, 2, 8, 64)], [
    -28,
    -28,
    35,
    35,
    -20,
    -28,
    43,
    35,
    -28,
    -20,
    35,
    43,
    -20,
    -20,
    43,
    43,
  ]);
});

Deno.test("no candidate above the threshold gives no detections", () => {
  const result = postprocessAtss(emptyHead(), map, GLIP_POSTPROCESS, sizes);
  assertEquals(result.count, 0);
});

Deno.test("one confident location: score sqrt(p x sigmoid(centerness)), box decoded, clipped and rescaled", () => {
  const head = emptyHead();
  head.levels[0].tokenLogits![0 * T + 1] = 2; // location 0, token 1 -> label 1
  const result = postprocessAtss(head, map, GLIP_POSTPROCESS, sizes);
  assertEquals(result.count, 1);
  assertEquals(result.labels[0], 1);
  const p = 1 / (1 + Math.exp(-2));
  assert(Math.abs(result.scores[0] - Math.sqrt(p * 0.5)) < 1e-6);
  // zero regression: the anchor [-28,-28,35,35], clipped to [0, w-1] x [0, h-1] of the resized image
  assertEquals([...result.boxesResized], [0, 0, 35, 35]);
  // rescaled to the original size by the per-axis ratio (2x), no +1
  assertEquals([...result.boxes], [0, 0, 70, 70]);
});

Deno.test("a label's score is the mean (or max) of its tokens' probabilities", () => {
  const head = emptyHead();
  head.levels[0].tokenLogits![3 * T + 2] = 4;
  head.levels[0].tokenLogits![3 * T + 3] = LOW; // mean of ~0.982 and ~0 = 0.491 > 0.05
  const result = postprocessAtss(head, map, GLIP_POSTPROCESS, sizes);
  assertEquals([...result.labels], [2]);
  const mean = (1 / (1 + Math.exp(-4)) + 1 / (1 + Math.exp(20))) / 2;
  assert(Math.abs(result.scores[0] - Math.sqrt(mean * 0.5)) < 1e-6);
  const max = postprocessAtss(head, map, { ...GLIP_POSTPROCESS, scoreAggregation: "MAX" }, sizes);
  assert(Math.abs(max.scores[0] - Math.sqrt((1 / (1 + Math.exp(-4))) * 0.5)) < 1e-6);
});

Deno.test("class-wise NMS suppresses overlapping boxes of the same label only", () => {
  const head = emptyHead();
  // locations 0 and 1 of level 0 overlap heavily (anchors shifted by 8 px, 64 px wide)
  head.levels[0].tokenLogits![0 * T + 1] = 3;
  head.levels[0].tokenLogits![1 * T + 1] = 2;
  head.levels[0].tokenLogits![1 * T + 2] = 3;
  head.levels[0].tokenLogits![1 * T + 3] = 3;
  const result = postprocessAtss(head, map, { ...GLIP_POSTPROCESS }, {
    resized: { width: 200, height: 200 },
    original: { width: 200, height: 200 },
  });
  assertEquals([...result.labels].sort(), [1, 2]);
});

Deno.test("the detections-per-image cut keeps every tie at the threshold (GLIP's kthvalue rule)", () => {
  const head = emptyHead();
  for (let i = 0; i < 4; i++) head.levels[0].tokenLogits![i * T + 1] = 1; // four equal scores, distinct boxes
  const wide = { resized: { width: 1000, height: 1000 }, original: { width: 1000, height: 1000 } };
  const settings = { ...GLIP_POSTPROCESS, nmsThreshold: 1, detectionsPerImage: 2 };
  assertEquals(postprocessAtss(head, map, settings, wide).count, 4);
});

Deno.test("boxes crossing the image border are clipped to [0, w-1] x [0, h-1]", () => {
  const head = emptyHead();
  head.levels[0].tokenLogits![3 * T + 1] = 3; // location (1,1): anchor [-20,-20,43,43]
  head.levels[0].bboxRegression[2 * 4 + 3] = 2; // dw: widen beyond the image
  const result = postprocessAtss(head, map, GLIP_POSTPROCESS, {
    resized: { width: 30, height: 30 },
    original: { width: 30, height: 30 },
  });
  const [x1, y1, x2, y2] = result.boxesResized;
  assertEquals([x1, y1, x2, y2].every((v) => v >= 0 && v <= 29), true);
  assertEquals([x1, x2], [0, 29]);
});

Deno.test("a label with an empty token list is never emitted, whatever the score threshold", () => {
  // GLIP leaves such a label out of its positive map; a map that still holds one (an older
  // prompt file) must not turn it into detections with score 0
  const head = emptyHead();
  head.levels[0].tokenLogits![0 * T + 1] = 2;
  for (const scoreThreshold of [0.05, 0, -1]) {
    const result = postprocessAtss(head, map, { ...GLIP_POSTPROCESS, scoreThreshold }, sizes);
    assert(result.count > 0);
    assertEquals([...result.labels].includes(3), false, `threshold ${scoreThreshold}`);
  }
  assertEquals(scoredLabels(new Map([[5, [1]], [3, []], [2, [4]]])), [2, 5]);
  assertEquals(candidateFilter(map, GLIP_POSTPROCESS).labelTokens, [[1], [2, 3]]);
});
