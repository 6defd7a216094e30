/**
 * FLOPs of a model bundle's graphs at a given input size, estimated from onnxruntime-node's
 * profiler: each node's input and output shapes as ORT ran them, and 2 x the multiply-adds of
 * the ops that dominate (Conv and DeformConv: output elements x Cin/groups x kH x kW; MatMul and
 * Gemm: output elements x K). Elementwise ops, norms, softmax and sampling are left out, so the
 * figure is a lower bound, as papers count it.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { join } from "node:path";
import type { ModelBundle } from "../models/bundle.ts";
import { turnOffOnnxRuntimeTelemetry } from "../core/onnxruntime_telemetry.ts";

turnOffOnnxRuntimeTelemetry();

interface ProfileEvent {
  cat: string;
  name: string;
  args: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}

const shapeOf = (entry: Record<string, number[]> | undefined) =>
  entry ? Object.values(entry)[0] : undefined;
const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Multiply-adds of one profiled node (0 for ops not counted). */
export function nodeMacs(event: ProfileEvent): number {
  const op = event.args.op_name;
  const inputs = event.args.input_type_shape ?? [];
  const output = shapeOf(event.args.output_type_shape?.[0]);
  if (!output) return 0;
  if (op === "Conv" || op === "DeformConv") {
    const weight = shapeOf(inputs[op === "Conv" ? 1 : 1]);
    return weight ? product(output) * product(weight.slice(1)) : 0;
  }
  if (op === "MatMul" || op === "Gemm" || op === "FusedMatMul") {
    const a = shapeOf(inputs[0]);
    return a ? product(output) * a[a.length - 1] : 0;
  }
  return 0;
}

/** Runs one graph once with profiling and returns its outputs and GFLOPs. */
export async function profiledRun(
  bundle: ModelBundle,
  file: string,
  feeds: Record<string, ort.Tensor>,
): Promise<{ outputs: Record<string, ort.Tensor>; gflops: number }> {
  const dir = await Deno.makeTempDir({ prefix: "perf-flops-" });
  try {
    const session = await ort.InferenceSession.create(join(bundle.dir, file), {
      enableProfiling: true,
      profileFilePrefix: join(dir, "profile"),
      logSeverityLevel: 3,
    } as ort.InferenceSession.SessionOptions);
    const outputs = await session.run(feeds);
    (session as unknown as { endProfiling(): void }).endProfiling();
    await session.release();
    let macs = 0;
    for await (const entry of Deno.readDir(dir)) {
      const events = JSON.parse(await Deno.readTextFile(join(dir, entry.name))) as ProfileEvent[];
      for (const event of events) {
        if (event.cat === "Node" && event.name.endsWith("_kernel_time")) macs += nodeMacs(event);
      }
    }
    return { outputs, gflops: (2 * macs) / 1e9 };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
