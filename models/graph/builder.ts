/**
 * A small graph builder that emits ONNX. It is the single definition of the GLIP model: the
 * modules in `models/glip/` call it to build the three graphs, and the op set is kept small and
 * explicit so a later issue can derive gradient graphs from it.
 *
 * Values carry a dtype and a shape whose dims are numbers, symbolic names (`"H"`), or null
 * (unknown). Ops infer output shapes where they can and throw when known dims disagree, naming
 * the node. Node names are scoped by module (`backbone.body.layers.0.blocks.1.attn/MatMul_3`).
 *
 * @example
 * ```ts
 * import { GraphBuilder } from "./builder.ts";
 * const g = new GraphBuilder("demo");
 * const x = g.input("x", "float32", [1, 4]);
 * const w = g.weight("fc.weight", new Float32Array(8).fill(0.5), [4, 2]);
 * g.output(g.op("Relu", [g.op("MatMul", [x, w])]), "y");
 * const { model } = g.build();
 * console.assert(model.length > 0);
 * ```
 *
 * @module
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** Element types the builder uses. */
export type DType = "float32" | "float16" | "int64" | "int32" | "bool";

/** One dimension: a size, a symbolic name, or unknown. */
export type Dim = number | string | null;

/** A value flowing through the graph. */
export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Dim[] | null;
}

const ONNX_TYPE: Record<DType, number> = {
  float32: 1,
  float16: 10,
  int64: 7,
  int32: 6,
  bool: 9,
};

/** Attribute values accepted by {@link GraphBuilder.op}. */
export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

/** An ONNX graph error with the node that caused it. */
export class GraphError extends Error {
  override name = "GraphError";
}

interface Initializer {
  name: string;
  dtype: DType;
  dims: number[];
  bytes: Uint8Array;
}

/** Initializers at least this large go to the external data file. */
const EXTERNAL_THRESHOLD = 1024;
const ALIGNMENT = 64;

/** Options of {@link GraphBuilder.build}. */
export interface BuildOptions {
  /** File name the external data is written to (relative to the model). Inline when absent. */
  externalDataFile?: string;
}

/** A built graph: the model bytes and the external data bytes (if any). */
export interface BuiltGraph {
  model: Uint8Array;
  externalData?: Uint8Array;
  externalDataFile?: string;
  inputs: { name: string; dtype: DType; shape: (number | string)[] }[];
  outputs: { name: string; dtype: DType; shape: (number | string)[] }[];
  nodeCount: number;
  parameterCount: number;
}

/** Builds one ONNX graph. */
export class GraphBuilder {
  readonly #nodes: onnxProto.onnx.INodeProto[] = [];
  readonly #initializers: Initializer[] = [];
  readonly #inputs: Value[] = [];
  readonly #outputs: Value[] = [];
  readonly #names = new Set<string>();
  readonly #scopes: string[] = [];
  readonly #counters = new Map<string, number>();
  readonly #constants = new Map<string, Value>();
  readonly #weights = new Map<string, Value>();

  /**
   * @param name Graph name.
   * @param opset Default-domain opset. @default 19 (DeformConv needs 19; GridSample stays
   * within 16-19, which onnxruntime-web's WebGPU provider runs)
   */
  constructor(readonly name: string, readonly opset = 19) {}

  /**
   * Runs `fn` with `scope` in node names. A scope that already starts with the current path (the
   * modules pass full parameter names) replaces it instead of being appended.
   */
  scope<T>(scope: string, fn: () => T): T {
    const current = this.currentScope;
    this.#scopes.push(
      current && !scope.startsWith(`${current}.`) && scope !== current
        ? `${current}.${scope}`
        : scope,
    );
    try {
      return fn();
    } finally {
      this.#scopes.pop();
    }
  }

  /** The current scope path, e.g. `backbone.body.layers.0`. */
  get currentScope(): string {
    return this.#scopes.at(-1) ?? "";
  }

  #unique(base: string): string {
    let name = base;
    for (let i = 1; this.#names.has(name); i++) name = `${base}_${i}`;
    this.#names.add(name);
    return name;
  }

  #nodeName(opType: string): string {
    const prefix = this.currentScope ? `${this.currentScope}/` : "";
    const key = `${prefix}${opType}`;
    const count = this.#counters.get(key) ?? 0;
    this.#counters.set(key, count + 1);
    return count === 0 ? key : `${key}_${count}`;
  }

  /** Declares a graph input. */
  input(name: string, dtype: DType, shape: Dim[]): Value {
    if (this.#names.has(name)) throw new GraphError(`${this.name}: duplicate name ${name}`);
    this.#names.add(name);
    const value = { name, dtype, shape };
    this.#inputs.push(value);
    return value;
  }

  /** Marks a value as a graph output under `name` (adds an Identity when renaming). */
  output(value: Value, name: string): Value {
    let out = value;
    if (value.name !== name) {
      if (this.#names.has(name)) {
        throw new GraphError(`${this.name}: duplicate output name ${name}`);
      }
      this.#names.add(name);
      this.#nodes.push({
        opType: "Identity",
        input: [value.name],
        output: [name],
        name: `output/${name}`,
      });
      out = { name, dtype: value.dtype, shape: value.shape };
    }
    this.#outputs.push(out);
    return out;
  }

  /**
   * Adds a float32 weight (initializer) under its parameter name. Asking again for the same name
   * and dims returns the same initializer (weights shared across FPN levels are stored once).
   */
  weight(name: string, data: Float32Array, dims: number[]): Value {
    const key = `${name}|${dims}`;
    const existing = this.#weights.get(key);
    if (existing) return existing;
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) {
      throw new GraphError(
        `${this.name}: weight ${name} has ${data.length} values, shape [${dims}] needs ${count}`,
      );
    }
    const unique = this.#unique(name);
    this.#initializers.push({
      name: unique,
      dtype: "float32",
      dims,
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    const value: Value = { name: unique, dtype: "float32", shape: dims };
    this.#weights.set(key, value);
    return value;
  }

  /**
   * Turns the weights whose names `select` accepts into graph inputs of the same name and shape
   * (their initializers are removed), so a trainer feeds their current values each step and can
   * differentiate with respect to them. Returns them with their initial values.
   */
  promoteWeightsToInputs(
    select: (name: string) => boolean,
  ): { value: Value; initial: Float32Array }[] {
    const promoted: { value: Value; initial: Float32Array }[] = [];
    const weightNames = new Set([...this.#weights.values()].map((v) => v.name));
    const kept: Initializer[] = [];
    for (const init of this.#initializers) {
      if (init.dtype === "float32" && weightNames.has(init.name) && select(init.name)) {
        const value: Value = { name: init.name, dtype: "float32", shape: init.dims };
        this.#inputs.push(value);
        const initial = new Float32Array(init.bytes.byteLength / 4);
        new Uint8Array(initial.buffer).set(init.bytes);
        promoted.push({ value, initial });
      } else {
        kept.push(init);
      }
    }
    this.#initializers.length = 0;
    this.#initializers.push(...kept);
    this.#index = null;
    this.#indexedCount = 0;
    return promoted;
  }

  /** A constant tensor (deduplicated by content). */
  constant(data: number[] | Float32Array | BigInt64Array, dims: number[], dtype: DType): Value {
    let bytes: Uint8Array;
    if (dtype === "int64") {
      const array = data instanceof BigInt64Array
        ? data
        : BigInt64Array.from(data as number[], (v) => BigInt(v));
      bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    } else if (dtype === "float32") {
      const array = data instanceof Float32Array ? data : Float32Array.from(data as number[]);
      bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    } else if (dtype === "bool") {
      bytes = Uint8Array.from(data as number[]);
    } else {
      throw new GraphError(`${this.name}: constants of type ${dtype} are not supported`);
    }
    const small = bytes.byteLength <= 256;
    const key = small ? `${dtype}|${dims}|${Array.from(bytes).join(",")}` : "";
    if (small && this.#constants.has(key)) return this.#constants.get(key)!;
    const name = this.#unique(`const_${dtype}_${this.#initializers.length}`);
    this.#initializers.push({ name, dtype, dims, bytes: bytes.slice() });
    const value = { name, dtype, shape: dims };
    if (small) this.#constants.set(key, value);
    return value;
  }

  /** A 1-D int64 constant. */
  ints(values: number[]): Value {
    return this.constant(values, [values.length], "int64");
  }

  /** A float32 scalar constant. */
  scalar(value: number): Value {
    return this.constant([value], [], "float32");
  }

  /**
   * Adds a node. Returns its output (or outputs, when `outputs` > 1). The output shape comes
   * from `shape` when given, else from {@link inferShape}.
   */
  op(
    opType: string,
    inputs: (Value | null)[],
    attributes: Record<string, AttributeValue> = {},
    options: { outputs?: number; shape?: Dim[] | null; dtype?: DType; domain?: string } = {},
  ): Value {
    return this.opMulti(opType, inputs, attributes, { ...options, outputs: 1 })[0];
  }

  /** Like {@link op}, for nodes with several outputs. */
  opMulti(
    opType: string,
    inputs: (Value | null)[],
    attributes: Record<string, AttributeValue> = {},
    options: { outputs?: number; shape?: Dim[] | null; dtype?: DType; domain?: string } = {},
  ): Value[] {
    const nodeName = this.#nodeName(opType);
    let shape: Dim[] | null;
    try {
      shape = options.shape !== undefined ? options.shape : inferShape(opType, inputs, attributes);
    } catch (error) {
      throw new GraphError(`${this.name}: node ${nodeName}: ${(error as Error).message}`);
    }
    const dtype = options.dtype ?? outputDtype(opType, inputs, attributes);
    const count = options.outputs ?? 1;
    const outputs: Value[] = [];
    for (let i = 0; i < count; i++) {
      outputs.push({
        name: this.#unique(count === 1 ? nodeName : `${nodeName}:${i}`),
        dtype,
        shape,
      });
    }
    this.#nodes.push({
      opType,
      domain: options.domain ?? "",
      name: nodeName,
      input: inputs.map((v) => v?.name ?? ""),
      output: outputs.map((v) => v.name),
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return outputs;
  }

  /** The nodes added so far, in creation (topological) order. Read-only view for analyses. */
  get nodes(): readonly onnxProto.onnx.INodeProto[] {
    return this.#nodes;
  }

  /** The declared graph inputs. */
  get inputs(): readonly Value[] {
    return this.#inputs;
  }

  /** An initializer (weight or constant) by name: dtype, dims and its bytes; undefined if none. */
  initializer(name: string): { dtype: DType; dims: number[]; bytes: Uint8Array } | undefined {
    return this.#initializerIndex().get(name);
  }

  #index: Map<string, Initializer> | null = null;
  #indexedCount = 0;
  #initializerIndex(): Map<string, Initializer> {
    if (!this.#index) this.#index = new Map();
    for (; this.#indexedCount < this.#initializers.length; this.#indexedCount++) {
      const init = this.#initializers[this.#indexedCount];
      this.#index.set(init.name, init);
    }
    return this.#index;
  }

  /** Number of float parameters. */
  get parameterCount(): number {
    return this.#initializers.filter((i) => i.dtype === "float32")
      .reduce((sum, i) => sum + i.bytes.byteLength / 4, 0);
  }

  /** Serializes the graph; large initializers go to external data when a file name is given. */
  build(options: BuildOptions = {}): BuiltGraph {
    const external = options.externalDataFile;
    let externalSize = 0;
    const placements: { init: Initializer; offset: number }[] = [];
    const initializer = this.#initializers.map((init) => {
      const tensor: onnxProto.onnx.ITensorProto = {
        name: init.name,
        dims: init.dims,
        dataType: ONNX_TYPE[init.dtype],
      };
      if (external && init.bytes.byteLength >= EXTERNAL_THRESHOLD) {
        const offset = Math.ceil(externalSize / ALIGNMENT) * ALIGNMENT;
        placements.push({ init, offset });
        externalSize = offset + init.bytes.byteLength;
        tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        tensor.externalData = [
          { key: "location", value: external },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(init.bytes.byteLength) },
        ];
      } else {
        tensor.rawData = init.bytes;
      }
      return tensor;
    });
    let externalData: Uint8Array | undefined;
    if (external) {
      externalData = new Uint8Array(externalSize);
      for (const { init, offset } of placements) externalData.set(init.bytes, offset);
    }
    const info = (value: Value) => ({
      name: value.name,
      type: {
        tensorType: {
          elemType: ONNX_TYPE[value.dtype],
          // An unknown shape is left out (an empty dim list would mean a scalar).
          ...(value.shape === null ? {} : {
            shape: {
              dim: value.shape.map((d, i) =>
                typeof d === "number" ? { dimValue: d } : { dimParam: d ?? `${value.name}_d${i}` }
              ),
            },
          }),
        },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: 9,
      producerName: "glip-bench",
      producerVersion: "1",
      opsetImport: [{ domain: "", version: this.opset }],
      graph: {
        name: this.name,
        node: this.#nodes,
        initializer,
        input: this.#inputs.map(info),
        output: this.#outputs.map(info),
      },
    });
    const io = (value: Value) => ({
      name: value.name,
      dtype: value.dtype,
      shape: (value.shape ?? []).map((d, i) => d ?? `${value.name}_d${i}`),
    });
    return {
      model: onnx.ModelProto.encode(model).finish(),
      externalData,
      externalDataFile: external,
      inputs: this.#inputs.map(io),
      outputs: this.#outputs.map(io),
      nodeCount: this.#nodes.length,
      parameterCount: this.parameterCount,
    };
  }
}

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return { name, type: AttributeType.FLOAT, f: value };
    return { name, type: AttributeType.INT, i: value };
  }
  if (typeof value === "string") {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ("float" in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

function outputDtype(
  opType: string,
  inputs: (Value | null)[],
  attributes: Record<string, AttributeValue>,
): DType {
  if (opType === "Shape") return "int64";
  if (["Equal", "Less", "Greater", "Not", "And", "Or"].includes(opType)) return "bool";
  if (opType === "Cast") {
    const to = attributes.to as number;
    return (Object.entries(ONNX_TYPE).find(([, code]) => code === to)?.[0] ?? "float32") as DType;
  }
  if (opType === "Where") return inputs[1]?.dtype ?? "float32";
  return inputs.find((v) => v !== null)?.dtype ?? "float32";
}

/** Broadcasts two shapes numpy-style; throws on a known mismatch. */
export function broadcastShapes(a: Dim[], b: Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else if (typeof x === "number" && typeof y === "number" && x !== y) {
      throw new Error(`cannot broadcast [${a}] with [${b}]`);
    } else out.push(x ?? y);
  }
  return out;
}

const ELEMENTWISE = new Set([
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Pow",
  "Max",
  "Min",
  "Equal",
  "Less",
  "Greater",
  "And",
  "Or",
]);
const UNARY = new Set([
  "Relu",
  "Sigmoid",
  "Tanh",
  "Exp",
  "Log",
  "Sqrt",
  "Erf",
  "Neg",
  "Abs",
  "Clip",
  "Identity",
  "Softmax",
  "LayerNormalization",
  "Cast",
  "HardSigmoid",
  "Not",
  "Floor",
  "Ceil",
  "Reciprocal",
]);

function sameDim(a: Dim, b: Dim): boolean {
  return a === null || b === null || a === b || typeof a !== typeof b;
}

/** Infers the output shape of the ops the GLIP modules use; null when unknown. */
export function inferShape(
  opType: string,
  inputs: (Value | null)[],
  attributes: Record<string, AttributeValue>,
): Dim[] | null {
  const shapes = inputs.map((v) => v?.shape ?? null);
  const [a, b] = shapes;
  if (ELEMENTWISE.has(opType)) {
    return a && b ? broadcastShapes(a, b) : null;
  }
  if (opType === "Where") {
    const [, x, y] = shapes;
    return shapes[0] && x && y ? broadcastShapes(broadcastShapes(shapes[0], x), y) : null;
  }
  if (UNARY.has(opType)) return a;
  if (opType === "MatMul") {
    if (!a || !b) return null;
    if (a.length < 2 || b.length < 2) {
      throw new Error(`MatMul needs rank >= 2, got [${a}] x [${b}]`);
    }
    if (!sameDim(a[a.length - 1], b[b.length - 2])) {
      throw new Error(`MatMul inner dims differ: [${a}] x [${b}]`);
    }
    const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
    return [...batch, a[a.length - 2], b[b.length - 1]];
  }
  if (opType === "Transpose") {
    const perm = attributes.perm as number[];
    return a ? perm.map((p) => a[p]) : null;
  }
  if (opType === "Conv" || opType === "DeformConv") {
    const w = shapes[1];
    if (!a || !w) return null;
    const group = (attributes.group as number | undefined) ?? 1;
    if (typeof a[1] === "number" && typeof w[1] === "number" && a[1] !== w[1] * group) {
      throw new Error(`${opType} input has ${a[1]} channels, weight expects ${w[1] * group}`);
    }
    const kernel = (attributes.kernel_shape as number[] | undefined) ??
      [w[2] as number, w[3] as number];
    const strides = (attributes.strides as number[] | undefined) ?? [1, 1];
    const pads = (attributes.pads as number[] | undefined) ?? [0, 0, 0, 0];
    const spatial = [0, 1].map((i) => {
      const size = a[2 + i];
      if (typeof size !== "number") return null;
      return Math.floor((size + pads[i] + pads[i + 2] - kernel[i]) / strides[i]) + 1;
    });
    return [a[0], w[0], ...spatial];
  }
  if (opType === "ReduceMean" || opType === "ReduceMax" || opType === "ReduceSum") {
    return null;
  }
  if (opType === "Concat") {
    if (shapes.some((s) => s === null)) return null;
    const axis = attributes.axis as number;
    const rank = shapes[0]!.length;
    const ax = axis < 0 ? axis + rank : axis;
    const out = [...shapes[0]!];
    let total: Dim = 0;
    for (const s of shapes) {
      if (s!.length !== rank) {
        throw new Error(`Concat ranks differ: ${shapes.map((x) => `[${x}]`)}`);
      }
      total = typeof total === "number" && typeof s![ax] === "number"
        ? total + (s![ax] as number)
        : null;
    }
    out[ax] = total;
    return out;
  }
  return null;
}
