/**
 * GLIP's FPN (maskrcnn_benchmark `fpn.py` with `LastLevelP6P7`): lateral 1x1 and output 3x3
 * convs on C3..C5, nearest top-down upsampling to the lateral's size, P6 from P5 (in = out
 * channels), P7 from ReLU(P6).
 *
 * @module
 */
import type { Value } from "../graph/builder.ts";
import { conv2d, type Ctx } from "./layers.ts";

const FPN = "backbone.fpn";

/** C3, C4, C5 (NCHW) with their channel counts to P3..P7. */
export function fpn(ctx: Ctx, features: Value[], inChannels: number[], out: number): Value[] {
  const { g } = ctx;
  return g.scope(FPN, () => {
    // fpn_inner2/3/4 are the laterals of C3/C4/C5 (fpn_inner1 belonged to the dropped C2).
    const lateral = (i: number) =>
      conv2d(ctx, features[i], `${FPN}.fpn_inner${i + 2}`, inChannels[i], out, 1);
    const output = (x: Value, i: number) =>
      conv2d(ctx, x, `${FPN}.fpn_layer${i + 2}`, out, out, 3, { padding: 1 });
    let last = lateral(2);
    const results = [output(last, 2)];
    for (const i of [1, 0]) {
      const inner = lateral(i);
      const size = g.op("Slice", [g.op("Shape", [inner]), g.ints([2]), g.ints([4])]);
      const fullSize = g.op("Concat", [
        g.op("Slice", [g.op("Shape", [last]), g.ints([0]), g.ints([2])]),
        size,
      ], { axis: 0 });
      const topDown = g.op("Resize", [last, null, null, fullSize], {
        mode: "nearest",
        coordinate_transformation_mode: "asymmetric",
        nearest_mode: "floor",
      });
      last = g.op("Add", [inner, topDown]);
      results.unshift(output(last, i));
    }
    const p6 = conv2d(ctx, results[2], `${FPN}.top_blocks.p6`, out, out, 3, {
      stride: 2,
      padding: 1,
    });
    const p7 = conv2d(ctx, g.op("Relu", [p6]), `${FPN}.top_blocks.p7`, out, out, 3, {
      stride: 2,
      padding: 1,
    });
    return [...results, p6, p7];
  });
}
