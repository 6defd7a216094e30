/**
 * Which nodes of a session ran on the CPU inside an onnxruntime-web session, and which of those
 * are real compute fallbacks. ORT places small integer shape arithmetic (Shape, Slice, Concat of
 * sizes) on the CPU on purpose; a node that reads float tensors (DeformConv, a float Mul) on the
 * CPU is a fallback that moves activations off the GPU.
 *
 * ORT-web prints its log with `fs.writeSync` (its Node.js code path under Deno): the verbose
 * placement log, warnings, and with a verbose session thousands of lines of WGSL per run. All of
 * it is taken from the terminal: {@link captureOrtLog} collects it while a session is created;
 * at other times it is kept in a short in-memory tail ({@link ortLogTail}) and reaches stderr
 * only after {@link setOrtLogPassthrough}(true) (an engine created with `verbose`).
 *
 * @module
 */
import fs from "node:fs";
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

let capture: string[] | null = null;
const originalWriteSync = fs.writeSync;
let installed = false;
let passthrough = false;
/** The last writes ORT made outside a capture, for diagnostics. */
const tail: string[] = [];
const TAIL_WRITES = 200;

/** Lets ORT-web's log through to stdout/stderr (true) or keeps it off the terminal (false, the default). */
export function setOrtLogPassthrough(on: boolean): void {
  passthrough = on;
}

/** The last writes of ORT-web's log that were kept off the terminal (at most 200). */
export function ortLogTail(): string {
  return tail.join("");
}

/** Installs the interceptor; must run before onnxruntime-web is imported. */
export function installLogInterceptor(): void {
  if (installed) return;
  installed = true;
  // deno-lint-ignore no-explicit-any
  (fs as any).writeSync = (fd: number, data: unknown, ...rest: unknown[]) => {
    // nothing else in the project writes to stdout/stderr through node:fs; ORT-web does
    if ((fd === 1 || fd === 2) && typeof data === "string" && !passthrough) {
      if (capture) capture.push(data);
      else {
        tail.push(data);
        if (tail.length > TAIL_WRITES) tail.splice(0, tail.length - TAIL_WRITES);
      }
      return data.length;
    }
    if ((fd === 1 || fd === 2) && typeof data === "string" && capture) capture.push(data);
    // deno-lint-ignore no-explicit-any
    return (originalWriteSync as any)(fd, data, ...rest);
  };
}

/** Runs `fn` while collecting everything ORT-web logs; returns its result and the log. */
export async function captureOrtLog<T>(fn: () => Promise<T>): Promise<{ value: T; log: string }> {
  const lines: string[] = [];
  capture = lines;
  try {
    const value = await fn();
    return { value, log: lines.join("") };
  } finally {
    capture = null;
  }
}

/** Nodes placed on the CPU execution provider, as `OpType (name)`, from a verbose log. */
export function cpuPlacedNodes(log: string): { op: string; name: string }[] {
  const lines = log.split("\n");
  const nodes: { op: string; name: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/Node\(s\) placed on \[CPUExecutionProvider\]/.test(lines[i])) continue;
    for (let j = i + 1; j < lines.length; j++) {
      const match = /VerifyEachNodeIsAssignedToAnEp\]\s{3}(\S+) \((.*)\)\s*$/.exec(lines[j]);
      if (!match) break;
      nodes.push({ op: match[1], name: match[2] });
    }
  }
  return nodes;
}

/**
 * The nodes of an ONNX model, and those that read a float tensor (dtypes propagated through the
 * graph from its inputs and initializers).
 */
export function floatReadingNodes(model: Uint8Array): { all: Set<string>; reading: Set<string> } {
  const decoded = onnx.ModelProto.decode(model);
  const graph = decoded.graph!;
  const FLOAT = new Set([1, 10, 11, 16]);
  const types = new Map<string, number>();
  for (const input of graph.input ?? []) {
    types.set(input.name!, input.type?.tensorType?.elemType ?? 0);
  }
  for (const init of graph.initializer ?? []) types.set(init.name!, init.dataType ?? 0);
  const reading = new Set<string>();
  const all = new Set<string>();
  for (const node of graph.node ?? []) {
    all.add(node.name ?? "");
    const inputs = (node.input ?? []).filter((name) => name !== "");
    if (inputs.some((name) => FLOAT.has(types.get(name) ?? 0))) reading.add(node.name ?? "");
    let out = types.get(inputs[0]) ?? 1;
    if (node.opType === "Shape") out = 7;
    else if (node.opType === "Cast") {
      out = Number(node.attribute?.find((a) => a.name === "to")?.i ?? 1);
    } else if (["Equal", "Less", "Greater", "Not", "And", "Or"].includes(node.opType!)) out = 9;
    else if (node.opType === "Where") out = types.get(inputs[1]) ?? 1;
    for (const output of node.output ?? []) types.set(output, out);
  }
  return { all, reading };
}

/**
 * Ops ORT's optimizer adds for shape arithmetic (e.g. the Shape -> Gather chains of its Reshape
 * fusion). A node ORT created (absent from the model) of one of these types is taken as shape
 * arithmetic; of any other type, as compute.
 */
const SHAPE_OPS = new Set([
  "Shape",
  "Gather",
  "Slice",
  "Concat",
  "Unsqueeze",
  "Squeeze",
  "Reshape",
  "Cast",
  "Range",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Mod",
  "Equal",
  "Less",
  "Greater",
  "Not",
  "Where",
  "Expand",
  "ConstantOfShape",
]);

/**
 * The CPU-placed nodes that are compute fallbacks: model nodes that read float data, and nodes
 * ORT created whose type is not shape arithmetic.
 */
export function computeFallbacks(log: string, model: Uint8Array): string[] {
  const { all, reading } = floatReadingNodes(model);
  return cpuPlacedNodes(log)
    .filter((node) => (all.has(node.name) ? reading.has(node.name) : !SHAPE_OPS.has(node.op)))
    .map((node) => `${node.op} (${node.name})`);
}
