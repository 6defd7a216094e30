/**
 * Which op types onnxruntime-web's WebGPU provider computes correctly with tensors past the
 * storage-buffer binding limit (128 MiB on lavapipe). Each op type of the webgpu graphs runs as a
 * one-node model with a tensor just over 128 MiB and is compared with onnxruntime-node on the
 * CPU. The verified op types must equal the engine's committed VERIFIED_PAST_BINDING_LIMIT, and
 * onnxruntime-web's own Softmax must be WRONG past the limit: when an upgrade fixes it, this test
 * fails, and the decomposition (engines/ort_web/softmax.ts) can be reconsidered.
 *
 * Slow on lavapipe: each of the 50 tests builds, uploads and reads back ~140 MB. On this
 * project's 2-core machine, shared with other jobs (load average 12 to 15), the file took 8 min
 * (3 to 40 s a case; 39 min when niced), 2026-12-01: too slow for every CI run. So every run
 * (CI included) checks the Softmax fault and its workaround, and the sweep over every op type
 * runs with `deno task test:large-ops` (GLIP_BENCH_LARGE_OPS=all): run it on each
 * onnxruntime-web or driver upgrade, and when a graph gains an op type (the last test names
 * the op types without a case).
 */
import { assert, assertEquals } from "../assert.ts";
import { GraphBuilder, type Value } from "../../models/graph/builder.ts";
import { createWebGpuSession, requestAdapter } from "../../engines/ort_web/engine.ts";
import { VERIFIED_PAST_BINDING_LIMIT } from "../../engines/ort_web/op_size_audit.ts";
import { decomposeSoftmax } from "../../engines/ort_web/softmax.ts";
import { SeededRandom } from "../../models/glip/weights.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import onnxProto from "onnx-proto";

const { adapter, reason } = await requestAdapter();
const LIMIT = 128 * 2 ** 20;
const bindingLimit = adapter?.limits.maxStorageBufferBindingSize ?? LIMIT;
const ignore = !adapter || bindingLimit > LIMIT;
/** The sweep over every op type (minutes on lavapipe) runs only when asked for. */
const sweep = Deno.env.get("GLIP_BENCH_LARGE_OPS") === "all";
if (!adapter) console.log(`large-op tests skipped: ${reason}`);
else if (bindingLimit > LIMIT) {
  console.log(
    `large-op tests skipped: this adapter binds ${bindingLimit} bytes, so 128 MiB tensors never cross its limit`,
  );
}

type Feed = Float32Array | BigInt64Array | Uint8Array;

/** One graph input: its dims and how its values are made. */
interface InputSpec {
  dims: number[];
  dtype?: "float32" | "int64" | "bool";
  /** Uniform range for floats (default [-2, 2]); integers draw from [0, max). */
  range?: [number, number];
  integers?: boolean;
  max?: number;
}

/** One case: an op with its inputs; `build` adds the node (default: the op over all inputs). */
interface OpCase {
  op: string;
  variant: string;
  inputs: InputSpec[];
  attributes?: Record<string, number | string | number[] | { float: number }>;
  build?: (g: GraphBuilder, inputs: Value[]) => Value;
}

// 35.2M float32 values: 140.8 MB, 4.9% past 128 MiB
const BIG = [1, 8, 4400, 1000];
const BIG2D = [35200, 1000];
const f = (dims: number[], range?: [number, number]): InputSpec => ({ dims, range });

const CASES: OpCase[] = [
  ...["Erf", "Exp", "Relu", "Sigmoid", "Identity"].map((op) => ({
    op,
    variant: "[1,8,4400,1000]",
    inputs: [f(BIG, [-3, 3])],
  })),
  { op: "Sqrt", variant: "[1,8,4400,1000]", inputs: [f(BIG, [0, 4])] },
  {
    op: "Cast",
    variant: "float32 -> int32",
    inputs: [f(BIG, [-100, 100])],
    attributes: { to: 6 },
  },
  {
    op: "Cast",
    variant: "int64 [1,17600000] -> float32",
    inputs: [{ dims: [1, 17600000], dtype: "int64", max: 1000 }],
    attributes: { to: 1 },
  },
  ...["Add", "Sub", "Mul", "Max"].map((op) => ({
    op,
    variant: "same shape",
    inputs: [f(BIG), f(BIG)],
  })),
  { op: "Div", variant: "same shape", inputs: [f(BIG), f(BIG, [0.5, 2])] },
  ...["Add", "Sub", "Mul", "Div"].map((op) => ({
    op,
    variant: "broadcast [1000]",
    inputs: [f(BIG), f([1000], [0.5, 2])],
  })),
  {
    op: "Clip",
    variant: "[-1, 1]",
    inputs: [f(BIG)],
    build: (g, [x]) => g.op("Clip", [x, g.scalar(-1), g.scalar(1)]),
  },
  ...["Equal", "Less"].map((op) => ({
    op,
    variant: "float, small integers",
    inputs: [
      { dims: BIG, integers: true, max: 4 },
      { dims: BIG, integers: true, max: 4 },
    ],
  })),
  { op: "Not", variant: "bool [140800000]", inputs: [{ dims: [140800000], dtype: "bool" }] },
  {
    op: "Mod",
    variant: "int64 [17600000] mod 7",
    inputs: [{ dims: [17600000], dtype: "int64", max: 100000 }],
    build: (g, [x]) => g.op("Mod", [x, g.ints([7])]),
  },
  {
    op: "Where",
    variant: "bool, float, float",
    inputs: [{ dims: BIG, dtype: "bool" }, f(BIG), f(BIG)],
  },
  {
    op: "Shape",
    variant: "of [1,8,4400,1000]",
    inputs: [f(BIG)],
  },
  {
    op: "Range",
    variant: "int64 [0, 17600000)",
    inputs: [],
    build: (g) =>
      g.op(
        "Range",
        [0, 17600000, 1].map((v) => g.constant(BigInt64Array.of(BigInt(v)), [], "int64")),
      ),
  },
  {
    op: "Reshape",
    variant: "to [35200,1000]",
    inputs: [f(BIG)],
    build: (g, [x]) => g.op("Reshape", [x, g.ints(BIG2D)]),
  },
  {
    op: "Squeeze",
    variant: "axis 0",
    inputs: [f(BIG)],
    build: (g, [x]) => g.op("Squeeze", [x, g.ints([0])]),
  },
  {
    op: "Unsqueeze",
    variant: "axis 0",
    inputs: [f(BIG)],
    build: (g, [x]) => g.op("Unsqueeze", [x, g.ints([0])]),
  },
  {
    op: "Transpose",
    variant: "perm [0,2,1,3]",
    inputs: [f(BIG)],
    attributes: { perm: [0, 2, 1, 3] },
  },
  {
    op: "Slice",
    variant: "last axis [100, 1000)",
    inputs: [f(BIG)],
    build: (g, [x]) => g.op("Slice", [x, g.ints([100]), g.ints([1000]), g.ints([3])]),
  },
  {
    op: "Slice",
    variant: "rows [2200, 4400) (all read past the limit)",
    inputs: [f(BIG)],
    build: (g, [x]) => g.op("Slice", [x, g.ints([2200]), g.ints([4400]), g.ints([2])]),
  },
  {
    op: "Concat",
    variant: "two halves on axis 2",
    inputs: [f([1, 8, 2200, 1000]), f([1, 8, 2200, 1000])],
    attributes: { axis: 2 },
  },
  {
    op: "Pad",
    variant: "constant, [1,4400,990,8] -> [1,4400,1000,8]",
    inputs: [f([1, 4400, 990, 8])],
    build: (g, [x]) => g.op("Pad", [x, g.ints([0, 0, 0, 0, 0, 0, 10, 0])]),
  },
  {
    op: "Gather",
    variant: "rows of [35200,1000]",
    inputs: [f(BIG2D), { dims: [3000], dtype: "int64", max: 35200 }],
    attributes: { axis: 0 },
  },
  {
    op: "Resize",
    variant: "nearest 2x to [1,32,1024,1074]",
    inputs: [f([1, 32, 512, 537])],
    build: (g, [x]) =>
      g.op("Resize", [x, null, null, g.ints([1, 32, 1024, 1074])], {
        mode: "nearest",
        coordinate_transformation_mode: "asymmetric",
        nearest_mode: "floor",
      }),
  },
  {
    op: "Resize",
    variant: "linear align_corners to [1,32,1024,1074]",
    inputs: [f([1, 32, 512, 537])],
    build: (g, [x]) =>
      g.op("Resize", [x, null, null, g.ints([1, 32, 1024, 1074])], {
        mode: "linear",
        coordinate_transformation_mode: "align_corners",
      }),
  },
  ...["ReduceMax", "ReduceSum", "ReduceMean"].map((op) => ({
    op,
    variant: "last axis",
    inputs: [f(BIG)],
    build: (g: GraphBuilder, [x]: Value[]) => g.op(op, [x, g.ints([-1])], { keepdims: 1 }),
  })),
  {
    op: "ReduceMean",
    variant: "axes [2,3]",
    inputs: [f(BIG)],
    build: (g, [x]) => g.op("ReduceMean", [x, g.ints([2, 3])], { keepdims: 1 }),
  },
  {
    op: "LayerNormalization",
    variant: "last axis of [35200,1000]",
    inputs: [f(BIG2D), f([1000]), f([1000])],
    attributes: { axis: -1, epsilon: { float: 1e-5 } },
  },
  {
    op: "MatMul",
    variant: "large A: [1,8,4400,1000] x [1,8,1000,8]",
    inputs: [f(BIG, [-1, 1]), f([1, 8, 1000, 8], [-1, 1])],
  },
  {
    op: "MatMul",
    variant: "large output: [1,8,4400,16] x [1,8,16,1000]",
    inputs: [f([1, 8, 4400, 16], [-1, 1]), f([1, 8, 16, 1000], [-1, 1])],
  },
  {
    op: "Conv 1x1",
    variant: "[1,16,1480,1487] -> 8 channels",
    inputs: [f([1, 16, 1480, 1487], [-1, 1]), f([8, 16, 1, 1], [-1, 1]), f([8])],
    attributes: { kernel_shape: [1, 1] },
  },
  {
    op: "Conv 3x3",
    variant: "pad 1, [1,4,2966,2967] -> 2 channels",
    inputs: [f([1, 4, 2966, 2967], [-1, 1]), f([2, 4, 3, 3], [-1, 1]), f([2])],
    attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  },
  {
    op: "GridSample",
    variant: "large input [1,16,1480,1487]",
    inputs: [f([1, 16, 1480, 1487]), f([1, 64, 64, 2], [-1.1, 1.1])],
    attributes: { align_corners: 0, mode: "bilinear", padding_mode: "zeros" },
  },
  {
    op: "GridSample",
    variant: "large output [1,64,734,750]",
    inputs: [f([1, 64, 100, 100]), f([1, 734, 750, 2], [-1.1, 1.1])],
    attributes: { align_corners: 0, mode: "bilinear", padding_mode: "zeros" },
  },
];

const SOFTMAX: OpCase = {
  op: "Softmax",
  variant: "[1,8,17188,256], last axis",
  inputs: [f([1, 8, 17188, 256], [-4, 4])],
  attributes: { axis: -1 },
};

function values(spec: InputSpec, seed: number): Feed {
  const random = new SeededRandom(seed);
  const count = spec.dims.reduce((a, b) => a * b, 1);
  if (spec.dtype === "bool") {
    return Uint8Array.from({ length: count }, () => random.uniform() < 0.5 ? 1 : 0);
  }
  if (spec.dtype === "int64") {
    const out = new BigInt64Array(count);
    for (let i = 0; i < count; i++) out[i] = BigInt(Math.floor(random.uniform() * spec.max!));
    return out;
  }
  const out = new Float32Array(count);
  if (spec.integers) {
    for (let i = 0; i < count; i++) out[i] = Math.floor(random.uniform() * spec.max!);
  } else {
    const [low, high] = spec.range ?? [-2, 2];
    for (let i = 0; i < count; i++) out[i] = low + (high - low) * random.uniform();
  }
  return out;
}

function buildCase(c: OpCase): Uint8Array {
  const opType = c.op.split(" ")[0];
  const g = new GraphBuilder(`large_${opType}`);
  const inputs = c.inputs.map((spec, i) => g.input(`x${i}`, spec.dtype ?? "float32", spec.dims));
  const y = c.build ? c.build(g, inputs) : g.op(opType, inputs, c.attributes ?? {});
  g.output(y, "y");
  return g.build().model;
}

/** max |a - b| over the reference's largest magnitude (exact comparison for integer outputs). */
function scaledError(
  reference: ArrayLike<number | bigint>,
  actual: ArrayLike<number | bigint>,
): number {
  if (reference.length !== actual.length) return Infinity;
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = Number(reference[i]);
    const a = Number(actual[i]);
    if (Number.isNaN(a) !== Number.isNaN(r)) return Infinity;
    maxRef = Math.max(maxRef, Math.abs(r));
    maxDiff = Math.max(maxDiff, Math.abs(r - a));
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

const ortNode = await import("onnxruntime-node");
const ortWeb = await import("onnxruntime-web/webgpu");

/** The case's output on WebGPU and on onnxruntime-node CPU, and their scaled error. */
async function runCase(c: OpCase, softmax: "plain" | "decomposed" = "plain") {
  const model = buildCase(c);
  const data = c.inputs.map((spec, i) => values(spec, 17 + i));
  const type = (spec: InputSpec) => spec.dtype ?? "float32";
  const cpu = await ortNode.InferenceSession.create(model);
  const reference = (await cpu.run(Object.fromEntries(
    data.map((d, i) => [`x${i}`, new ortNode.Tensor(type(c.inputs[i]), d, c.inputs[i].dims)]),
  ))).y;
  await cpu.release();
  const { session } = await createWebGpuSession(
    softmax === "decomposed" ? decomposeSoftmax(model).model : model,
    // a node ORT keeps on the CPU (Shape) is correct at any size; the engine refuses those apart
    { softmax: "plain", label: `${c.op} (${c.variant})`, allowCpuFallback: true },
  );
  try {
    const out = (await session.run(Object.fromEntries(
      data.map((d, i) => [`x${i}`, new ortWeb.Tensor(type(c.inputs[i]), d, c.inputs[i].dims)]),
    ))).y;
    const actual = await out.getData(true);
    const sameDims = JSON.stringify(out.dims) === JSON.stringify(reference.dims);
    return {
      error: sameDims
        ? scaledError(reference.data as ArrayLike<number>, actual as ArrayLike<number>)
        : Infinity,
      bytes: Math.max(
        ...c.inputs.map((s) =>
          s.dims.reduce((a, b) => a * b, 1) * (s.dtype === "int64" ? 8 : s.dtype === "bool" ? 1 : 4)
        ),
        reference.size * (reference.type === "int64" ? 8 : reference.type === "bool" ? 1 : 4),
      ),
    };
  } finally {
    await session.release();
  }
}

/** Float32 rounding of the ops above, relative to the output's largest magnitude. */
const TOLERANCE = 1e-4;
const results = new Map<string, boolean>();
/** Why a case of an unlisted op type did not verify (shown when the list must change). */
const notVerified: string[] = [];
const listed = new Set(VERIFIED_PAST_BINDING_LIMIT);

for (const c of CASES) {
  Deno.test({
    name: `large ops: ${c.op} (${c.variant}) on WebGPU ${
      listed.has(c.op) ? "matches" : "is not verified against"
    } the CPU past 128 MiB`,
    ignore: ignore || !sweep,
    async fn() {
      let outcome: string;
      let ok = false;
      try {
        const { error, bytes } = await runCase(c);
        assert(bytes > LIMIT, `the case's largest tensor (${bytes} bytes) must pass 128 MiB`);
        ok = error <= TOLERANCE;
        outcome = `scaled error ${error}`;
      } catch (error) {
        outcome = `failed: ${(error as Error).message.slice(0, 300)}`;
      }
      results.set(c.op, (results.get(c.op) ?? true) && ok);
      // a listed op type must pass every case; an unlisted one is checked as a whole below
      if (listed.has(c.op)) {
        assert(ok, `${c.op} (${c.variant}): ${outcome}, tolerance ${TOLERANCE}`);
      } else if (!ok) notVerified.push(`${c.op} (${c.variant}): ${outcome}`);
    },
  });
}

Deno.test({
  name: "large ops: onnxruntime-web's plain WebGPU Softmax is WRONG past 128 MiB (upstream fault)",
  ignore,
  async fn() {
    const { error, bytes } = await runCase(SOFTMAX, "plain");
    assert(bytes > LIMIT);
    // When this fails, onnxruntime-web fixed its Softmax: rerun tools/ort-web-softmax-repro.ts
    // and reconsider the decomposition in engines/ort_web/softmax.ts.
    assert(error > 1e-2, `plain Softmax now matches the CPU (scaled error ${error})`);
  },
});

Deno.test({
  name:
    "large ops: the decomposed Softmax (ReduceMax, Sub, Exp, ReduceSum, Div) is right past 128 MiB",
  ignore,
  async fn() {
    const { error } = await runCase(SOFTMAX, "decomposed");
    assert(error <= TOLERANCE, `decomposed Softmax: scaled error ${error}`);
  },
});

Deno.test({
  name:
    "large ops: the verified op types equal VERIFIED_PAST_BINDING_LIMIT and cover the webgpu graphs",
  ignore: ignore || !sweep,
  async fn() {
    const verified = [...results].filter(([, ok]) => ok).map(([op]) => op).sort();
    assertEquals(
      [...VERIFIED_PAST_BINDING_LIMIT].sort(),
      verified,
      `commit this list as VERIFIED_PAST_BINDING_LIMIT: ${
        JSON.stringify(verified)
      }\nnot verified:\n${notVerified.join("\n")}`,
    );
    // every op type of the nano bundle's webgpu graphs (Softmax decomposed) has a case
    const bundle = await nanoBundle(0);
    const { graphs } = bundle.manifest;
    const used = new Set<string>();
    for (const graph of [graphs.text, graphs.image, graphs.head.decomposed!]) {
      const model = decomposeSoftmax(await Deno.readFile(`${bundle.dir}/${graph.file}`)).model;
      for (const node of onnxProto.onnx.ModelProto.decode(model).graph!.node!) {
        used.add(node.opType!);
      }
    }
    const tested = new Set(CASES.map((c) => c.op.split(" ")[0]));
    const untested = [...used].filter((op) => !tested.has(op));
    assertEquals(untested, [], "op types of the webgpu graphs without a large-op case");
  },
});
