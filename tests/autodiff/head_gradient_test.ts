/**
 * The whole nano fusion head (decomposed deformable conv, as the trainer builds it): gradients of
 * a loss over every output (box regression, centerness and token logits at all five levels) with
 * respect to the prompt offset (what GLIP's prompt tuning trains) match finite differences along
 * random directions. A composition check in float32 (onnxruntime has no float64 Conv or
 * GridSample): single coordinates move this loss (about 300) less than its rounding noise, and
 * steps large enough to beat it cross kinks of deformable sampling, DyReLU and the clamps, so
 * this is a smoke check of the composition at 5% (measured 0.1-3% at h = 2e-3); a missing or
 * wrong path shows far above it. The float64 checks of the modules are in
 * head_reference_gradient_test.ts and module_reference_gradient_test.ts.
 */
import { presetArchitecture } from "../../models/glip/config.ts";
import { buildHeadGraph } from "../../models/glip/graphs.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import type { CheckedInput } from "./gradcheck.ts";
import { checkGraphGradients, randomData } from "./gradcheck.ts";

Deno.test("the nano head's gradient to the prompt offset matches finite differences", async () => {
  const arch = presetArchitecture("nano");
  const g = buildHeadGraph(arch, new RandomWeights(3), "decomposed");
  const targets = g.nodes.filter((n) => n.name!.startsWith("output/")).map((n) => ({
    name: n.output![0],
    dtype: "float32" as const,
    shape: null,
  }));
  const L = arch.maxQueryLength, D = arch.bert.hiddenSize, C = arch.fpnChannels;
  const sizes = [8, 4, 2, 1, 1];
  const inputs: CheckedInput[] = sizes.map((s, i) => ({
    name: `fpn_p${i + 3}`,
    dims: [1, C, s, s],
    data: randomData(C * s * s, 10 + i),
    differentiate: false,
  }));
  inputs.push(
    { name: "lang_hidden", dims: [1, L, D], data: randomData(L * D, 20), differentiate: false },
    { name: "prompt_offset", dims: [1, L, D], data: randomData(L * D, 21, [-0.1, 0.1]) },
  );
  const mask = new BigInt64Array(L);
  mask.fill(1n, 0, 12);
  await checkGraphGradients(
    g,
    targets,
    inputs,
    [{ name: "attention_mask", dims: [1, L], data: mask }],
    { directions: 3, step: 2e-3, tolerance: 5e-2 },
  );
});
