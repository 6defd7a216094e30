/**
 * Cutting a small layered graph into segments: the segments' backward graphs add the whole
 * graph's gradient terms in its order (bit-identical here), and every refusal names its cause.
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../models/graph/builder.ts";
import { appendGradients, GradientError } from "../../models/autodiff/backward.ts";
import { type SegmentableGraph, segmentGraphs } from "../../models/autodiff/segments.ts";
import { RecomputingStep } from "../../models/train/recompute.ts";
import { onnxRuntime } from "../../models/train/runtime.ts";
import { assertEquals, assertRejects, assertThrows } from "../assert.ts";

/**
 * x -> three "layers" (tanh(x * w + x), each reading x again, so x's gradient sums terms from
 * every segment) -> loss = sum(h * h); w is a weight input used by all layers.
 */
function layered(): SegmentableGraph {
  const g = new GraphBuilder("layered");
  const x = g.input("x", "float32", [2, 3]);
  const w = g.input("w", "float32", [3]);
  const unused = g.input("unused", "float32", [3]);
  g.op("Mul", [unused, unused]);
  let h = x;
  for (let layer = 0; layer < 3; layer++) {
    h = g.scope(
      `tower.blocks.${layer}`,
      () => g.op("Tanh", [g.op("Add", [g.op("Mul", [h, w]), x])]),
    );
  }
  const loss = g.op("ReduceSum", [g.op("Mul", [h, h]), g.ints([0, 1])], { keepdims: 0 });
  g.output(loss, "loss");
  return { graph: g, loss: "loss", outputs: ["loss"], wrt: ["x", "w"] };
}

const feeds = () => ({
  x: new ort.Tensor("float32", Float32Array.of(0.1, -0.2, 0.3, 0.4, -0.5, 0.6), [2, 3]),
  w: new ort.Tensor("float32", Float32Array.of(0.7, -0.8, 0.9), [3]),
  unused: new ort.Tensor("float32", Float32Array.of(1, 2, 3), [3]),
});

Deno.test("a graph cut at every layer returns the whole graph's loss and gradients, bit for bit", async () => {
  const whole = layered();
  const g = whole.graph;
  const gradients = appendGradients(g, { name: "loss", dtype: "float32", shape: [] }, [
    g.inputs[0],
    g.inputs[1],
  ], {});
  g.output(gradients.get("x")!, "grad_x");
  g.output(gradients.get("w")!, "grad_w");
  const session = await onnxRuntime().create(g.build().model);
  const expected = await session.run(feeds());
  await session.release();
  const step = await RecomputingStep.create(
    layered(),
    new Map([["x", "grad_x"], ["w", "grad_w"]]),
    { everyLayer: true, memoryBudgetBytes: 2 ** 30 },
  );
  try {
    assertEquals(step.plan.segments.map((s) => s.label), [
      "nodes outside the layers",
      "tower.blocks.0",
      "tower.blocks.1",
      "tower.blocks.2",
      "nodes outside the layers",
    ]);
    const actual = await step.run(feeds());
    for (const name of ["loss", "grad_x", "grad_w"]) {
      assertEquals([...actual[name].data as Float32Array], [
        ...expected[name].data as Float32Array,
      ]);
    }
    await assertRejects(
      () => step.run({ x: feeds().x, unused: feeds().unused }),
      RangeError,
      "no value for input w",
    );
    await assertRejects(() => step.run(feeds(), ["grad_y"]), RangeError, "no output grad_y");
  } finally {
    await step.release();
  }
});

Deno.test("segmentGraphs refuses cuts out of order or out of range", () => {
  const source = layered();
  const nodes = source.graph.nodes.length;
  for (const cuts of [[3, 2], [0], [nodes], [2, 2]]) {
    assertThrows(() => segmentGraphs(source, cuts), GradientError, "segment cuts must ascend");
  }
});

Deno.test("segmentGraphs names a value of wrt that no gradient reaches", () => {
  const source = { ...layered(), wrt: ["x", "unused"] };
  assertThrows(() => segmentGraphs(source, [2]), GradientError, "no gradient reaches unused");
});

Deno.test("segmentGraphs names a value the graph does not have", () => {
  const source = { ...layered(), wrt: ["x", "y"] };
  assertThrows(() => segmentGraphs(source, [2]), GradientError, "no value y in layered");
});

Deno.test("RecomputingStep refuses a gradient without an output name and a budget of 0", async () => {
  await assertRejects(
    () => RecomputingStep.create(layered(), new Map([["x", "grad_x"]])),
    RangeError,
    "no output name for the gradient of w",
  );
  await assertRejects(
    () => RecomputingStep.create(layered(), new Map(), { memoryBudgetBytes: 0 }),
    RangeError,
    "memoryBudgetBytes must be positive, got 0",
  );
});
