/**
 * The WGSL candidate reduction keeps exactly the (location, label) pairs whose label has a token
 * logit at or above the float32 bound, with their token logits, in row-major order; and
 * post-processing of the reduced output equals post-processing of the dense logits.
 */
import { assert, assertEquals } from "../assert.ts";
import { requestAdapter } from "../../engines/ort_web/engine.ts";
import { CandidateReducer, float32AtMost } from "../../engines/ort_web/candidates.ts";
import { candidateFilter, postprocessAtss } from "../../models/post/atss.ts";
import { GLIP_POSTPROCESS } from "../../models/glip/config.ts";
import { SeededRandom } from "../../models/glip/weights.ts";
import { sameDetections } from "../../engines/conformance.ts";
import type { HeadOutput } from "../../engines/engine.ts";

const { adapter, reason } = await requestAdapter();
if (!adapter) console.log(`device reduction tests skipped: ${reason}`);

Deno.test("float32AtMost() rounds down to a float32", () => {
  const bound = Math.log(0.05 / 0.95) - 1e-3;
  const rounded = float32AtMost(bound);
  assert(rounded <= bound && Math.fround(rounded) === rounded);
  assert(float32AtMost(0.1) <= 0.1 && float32AtMost(-0.1) <= -0.1);
  assertEquals(float32AtMost(0.5), 0.5);
});

Deno.test({
  name: "CandidateReducer keeps the pairs the CPU scan examines, and post-processing agrees",
  ignore: !adapter,
  async fn() {
    const device = await adapter!.requestDevice();
    const reducer = new CandidateReducer(device);
    const random = new SeededRandom(3);
    const sizes = [[20, 24], [10, 12], [5, 6], [3, 3], [2, 2]];
    const T = 32;
    const positiveMap = new Map<number, number[]>([[1, [1]], [2, [2, 3]], [4, [5, 6, 7]], [5, []]]);
    const filter = candidateFilter(positiveMap, GLIP_POSTPROCESS);
    const bound = float32AtMost(filter.logitBound);
    const head: HeadOutput = {
      tokenCount: T,
      levels: sizes.map(([h, w]) => {
        const logits = Float32Array.from({ length: h * w * T }, () => random.normal() - 4);
        // values on and just below the bound decide the boundary
        logits[T + 1] = bound;
        logits[2 * T + 2] = Math.fround(bound - 1e-6);
        return {
          height: h,
          width: w,
          bboxRegression: Float32Array.from({ length: 4 * h * w }, () => 0.3 * random.normal()),
          centerness: Float32Array.from({ length: h * w }, () => random.normal()),
          tokenLogits: logits,
        };
      }),
    };
    const buffers = head.levels.map((level) => {
      const buffer = device.createBuffer({
        size: level.tokenLogits!.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(buffer, 0, level.tokenLogits! as Float32Array<ArrayBuffer>);
      return { buffer, locations: level.height * level.width };
    });
    const reduced = await reducer.reduce(buffers, T, filter);
    const L = filter.labelTokens.length;
    head.levels.forEach((level, l) => {
      const expected: number[] = [];
      for (let i = 0; i < level.height * level.width; i++) {
        filter.labelTokens.forEach((tokens, j) => {
          if (tokens.some((t) => level.tokenLogits![i * T + t] >= bound)) expected.push(i * L + j);
        });
      }
      assertEquals([...reduced[l].pairs], expected, `level ${l} pairs`);
      reduced[l].pairs.forEach((pair, k) => {
        const i = Math.floor(pair / L);
        filter.labelTokens[pair % L].forEach((t, q) =>
          assertEquals(
            reduced[l].logits[k * reduced[l].tokensPerPair + q],
            level.tokenLogits![i * T + t],
          )
        );
      });
    });
    assert(reduced[0].pairs.includes(1 * L + 0), "a logit equal to the bound is kept");
    const sizesArg = { resized: { width: 96, height: 80 }, original: { width: 96, height: 80 } };
    const dense = postprocessAtss(head, positiveMap, GLIP_POSTPROCESS, sizesArg);
    const fromReduced = postprocessAtss(
      {
        tokenCount: T,
        levels: head.levels.map((level, l) => ({
          ...level,
          tokenLogits: undefined,
          candidates: reduced[l],
        })),
      },
      positiveMap,
      GLIP_POSTPROCESS,
      sizesArg,
    );
    assert(dense.count > 0, "the case has detections");
    assert(sameDetections(dense, fromReduced), "reduced post-processing equals the dense one");
    for (const { buffer } of buffers) buffer.destroy();
    device.destroy();
  },
});
