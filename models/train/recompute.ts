/**
 * A train step that recomputes activations instead of keeping them: the forward graph (ending
 * in the loss) is cut at layer boundaries into segments (models/autodiff/segments.ts) chosen
 * from the static shapes so that the estimated peak memory stays under a budget; the step runs
 * the segments' forward graphs keeping only their outputs, then each segment's backward graph
 * (which recomputes that segment's forward pass) from the last to the first. With a budget that
 * holds the whole graph, the plan is one segment: the plain step.
 *
 * The graphs run in sessions without onnxruntime's CPU memory arena: with an arena each session
 * would keep its own peak allocated, and the peaks of all segments would add up.
 *
 * The tuners (prompt tuning, linear probing, full-model tuning) get their steps from
 * {@link PlannedSteps}: a step whose plan is one segment is the one-graph step byte for byte on
 * the run's runtime, so a budget that holds the whole graph changes nothing.
 *
 * @example
 * ```ts ignore
 * const step = await RecomputingStep.create(forward, { memoryBudgetBytes: 16 * 2 ** 30 });
 * const out = await step.run(feeds); // loss and gradients, as the one-graph step returns them
 * console.log(step.plan.segments.map((s) => s.label));
 * ```
 *
 * @module
 */
import type * as ort from "onnxruntime-node";
import type { GraphBuilder, Value } from "../graph/builder.ts";
import { inferStaticShapes, type StaticTensor } from "../graph/static_shapes.ts";
import {
  checkpointName,
  gradientName,
  type SegmentableGraph,
  type SegmentGraphs,
  segmentGraphs,
  upstreamName,
} from "../autodiff/segments.ts";
import { appendGradients } from "../autodiff/backward.ts";
import { onnxRuntime, type TrainingRuntime, type TrainingSession } from "./runtime.ts";

/** The step's budget cannot hold the largest layer. */
export class MemoryBudgetError extends Error {
  override name = "MemoryBudgetError";
}

/**
 * Layer scopes a segment may start or end at: the fusion tower's modules, BERT's encoder
 * layers and Swin's blocks (node names carry the module's parameter path).
 */
const LAYER = /^(.*?(?:dyhead_tower|encoder\.layer|blocks)\.\d+)(?:[./]|$)/;

/**
 * Working memory of a segment's backward graph per byte of its forward activations: the
 * activations, the gradients flowing back through them and onnxruntime's scratch. Calibrated on
 * the GLIP-T prompt step at 320x480 in 7 segments: planned 3.25 GiB, measured 3.13 GiB peak RSS;
 * at 800x1333 in 6 segments it overestimates (planned 13.79 GiB, measured 10.40 GiB), which errs
 * on the safe side (perf/train.ts prints both side by side).
 */
export const BACKWARD_BYTES_PER_ACTIVATION_BYTE = 2;
/** Copies of the weights alive during a step: the source graph, forward and backward sessions. */
const WEIGHT_COPIES = 3;
/**
 * The process around the step: Deno, onnxruntime's code and thread pools (measured about
 * 0.3 GiB for the nano step, rounded up).
 */
const RUNTIME_BYTES = 0.5 * 2 ** 30;

/** A segment of a plan, for logs and run records. */
export interface PlannedSegment {
  /** First and last layer scope in the segment (nodes outside the layers go unnamed). */
  label: string;
  /** Node range in the forward graph. */
  start: number;
  end: number;
  /** Bytes of the values its nodes compute. */
  activationBytes: number;
}

/** Where to cut a forward graph, with the memory estimate that chose it. */
export interface SegmentPlan {
  segments: PlannedSegment[];
  /** Node indices the segments start at (all but the first). */
  cuts: number[];
  /** Estimated peak of a step in bytes (weights, inputs, checkpoints, largest segment). */
  estimatedPeakBytes: number;
  /** The budget the plan was made for. */
  budgetBytes: number;
  /** The smallest budget any plan fits: one segment per layer. */
  minimumBudgetBytes: number;
}

/** What the machine can give a step: 80% of the memory available now. */
export function defaultMemoryBudgetBytes(): number {
  return Math.floor(0.8 * Deno.systemMemoryInfo().available);
}

const bytesOf = (t: StaticTensor) =>
  t.dims.reduce((a, b) => a * b, 1) *
  ({ float32: 4, int64: 8, int32: 4, float16: 2, bool: 1 } as const)[t.dtype];
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Chooses cuts at layer boundaries so that the estimated peak of a step stays under
 * `budgetBytes`, with as few segments as the budget allows (each cut adds sessions and a
 * checkpoint), or one segment per layer with `everyLayer` (the least memory). Throws a
 * {@link MemoryBudgetError} when one layer alone exceeds the budget.
 */
export function planSegments(
  source: SegmentableGraph,
  budgetBytes: number,
  options: { everyLayer?: boolean } = {},
): SegmentPlan {
  const { graph } = source;
  const nodes = graph.nodes;
  const shapes = inferStaticShapes(graph, source.inputDims ?? {});
  // layers: maximal runs of nodes with the same layer scope
  const layers: { key: string; start: number; end: number; bytes: number }[] = [];
  nodes.forEach((node, k) => {
    const key = LAYER.exec(node.name ?? "")?.[1] ?? "";
    const bytes = node.output!.reduce((sum, out) => sum + bytesOf(shapes.get(out)!), 0);
    const current = layers.at(-1);
    if (current && current.key === key) {
      current.end = k + 1;
      current.bytes += bytes;
    } else layers.push({ key, start: k, end: k + 1, bytes });
  });
  const weightBytes = graph.parameterCount * 4 * WEIGHT_COPIES;
  const inputBytes = graph.inputs.reduce((sum, v) => sum + bytesOf(shapes.get(v.name)!), 0);
  // checkpoints if every layer boundary were cut: an upper bound for any plan
  const everyCut = segmentBorders(graph, layers.slice(1).map((l) => l.start), shapes);
  const fixed = RUNTIME_BYTES + weightBytes + inputBytes + everyCut;
  const working = (bytes: number) => bytes * BACKWARD_BYTES_PER_ACTIVATION_BYTE;
  const room = budgetBytes - fixed;
  const largest = layers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (working(largest.bytes) > room) {
    throw new MemoryBudgetError(
      `${graph.name}: a memory budget of ${gib(budgetBytes)} leaves ${gib(room)} for ` +
        `recomputation after weights, inputs and checkpoints (${gib(fixed)}), but the layer ` +
        `${largest.key || "(nodes outside the layers)"} needs about ${
          gib(working(largest.bytes))
        } ` +
        `at these sizes: the step needs a budget of at least ${
          gib(fixed + working(largest.bytes))
        }; raise the budget (--train-memory GB) or train at a smaller size`,
    );
  }
  const segments: PlannedSegment[] = [];
  let open: PlannedSegment | null = null;
  let keys: string[] = [];
  const close = () => {
    if (!open) return;
    const named = keys.filter((key) => key);
    open.label = named.length === 0
      ? "nodes outside the layers"
      : named.length === 1
      ? named[0]
      : `${named[0]} .. ${named.at(-1)}`;
    segments.push(open);
  };
  for (const layer of layers) {
    if (!options.everyLayer && open && working(open.activationBytes + layer.bytes) <= room) {
      open.end = layer.end;
      open.activationBytes += layer.bytes;
      keys.push(layer.key);
      continue;
    }
    close();
    open = { label: "", start: layer.start, end: layer.end, activationBytes: layer.bytes };
    keys = [layer.key];
  }
  close();
  const cuts = segments.slice(1).map((s) => s.start);
  const checkpoints = segmentBorders(graph, cuts, shapes);
  const peak = RUNTIME_BYTES + weightBytes + inputBytes + checkpoints +
    Math.max(...segments.map((s) => working(s.activationBytes)));
  return {
    segments,
    cuts,
    estimatedPeakBytes: peak,
    budgetBytes,
    minimumBudgetBytes: fixed + working(largest.bytes),
  };
}

/** Bytes of the values that cross the given cuts (each counted once). */
function segmentBorders(
  graph: GraphBuilder,
  cuts: number[],
  shapes: Map<string, StaticTensor>,
): number {
  const nodes = graph.nodes;
  const bounds = [0, ...cuts, nodes.length];
  const producedIn = new Map<string, number>();
  const crossing = new Set<string>();
  let s = 0;
  nodes.forEach((node, k) => {
    while (k >= bounds[s + 1]) s++;
    for (const name of node.input!) {
      const from = producedIn.get(name);
      if (from !== undefined && from < s) crossing.add(name);
    }
    for (const name of node.output!) producedIn.set(name, s);
  });
  return [...crossing].reduce((sum, name) => sum + bytesOf(shapes.get(name)!), 0);
}

/** Options of {@link RecomputingStep.create}. */
export interface RecomputeOptions {
  /**
   * Peak memory the step may use, in bytes.
   * @default {@link defaultMemoryBudgetBytes} (80% of the memory available when it is created)
   */
  memoryBudgetBytes?: number;
  /**
   * Where the segment graphs run; its {@link TrainingRuntime.withoutMemoryArena} variant when it
   * has one (the same engine and options without onnxruntime's CPU arena).
   * @default onnxruntime-node CPU without the memory arena
   */
  runtime?: TrainingRuntime;
  /**
   * One segment per layer whatever the budget allows (the least memory, the most sessions).
   * @default false
   */
  everyLayer?: boolean;
}

interface RunnableSegment {
  graphs: SegmentGraphs;
  forward?: TrainingSession;
  backward?: TrainingSession;
}

/**
 * A train step run segment by segment, with the interface of a one-graph step's session:
 * `run(feeds)` returns the forward graph's `outputs` and each gradient under the output name
 * given for it in `gradientOutputs`.
 */
export class RecomputingStep implements TrainingSession {
  private constructor(
    readonly plan: SegmentPlan,
    readonly outputNames: string[],
    readonly gradientOutputs: Map<string, string>,
    readonly runtime: TrainingRuntime,
    readonly segments: RunnableSegment[],
  ) {}

  /**
   * Plans the segments for the budget, builds their graphs and sessions. `gradientOutputs` names
   * the output of each gradient (`prompt_offset` -> `grad_prompt_offset`).
   */
  static async create(
    source: SegmentableGraph,
    gradientOutputs: Map<string, string>,
    options: RecomputeOptions = {},
  ): Promise<RecomputingStep> {
    const budget = options.memoryBudgetBytes ?? defaultMemoryBudgetBytes();
    if (!(budget > 0)) throw new RangeError(`memoryBudgetBytes must be positive, got ${budget}`);
    for (const name of source.wrt) {
      if (!gradientOutputs.has(name)) {
        throw new RangeError(`no output name for the gradient of ${name}`);
      }
    }
    const plan = planSegments(source, budget, { everyLayer: options.everyLayer });
    const runtime = options.runtime
      ? options.runtime.withoutMemoryArena?.() ?? options.runtime
      : onnxRuntime({ enableCpuMemArena: false });
    const segments: RunnableSegment[] = [];
    try {
      for (const graphs of segmentGraphs(source, plan.cuts)) {
        const segment: RunnableSegment = { graphs };
        segments.push(segment);
        if (graphs.forward) segment.forward = await runtime.create(graphs.forward.build().model);
        if (graphs.backward) segment.backward = await runtime.create(graphs.backward.build().model);
        // the sessions hold the graphs now
        delete graphs.forward;
        delete graphs.backward;
      }
    } catch (error) {
      for (const s of segments) {
        await s.forward?.release();
        await s.backward?.release();
      }
      throw error;
    }
    return new RecomputingStep(plan, source.outputs, gradientOutputs, runtime, segments);
  }

  /** The step's outputs and gradients for `feeds` (the forward graph's inputs). */
  async run(
    feeds: Record<string, ort.Tensor>,
    fetches?: string[],
  ): Promise<Record<string, ort.Tensor>> {
    const values = new Map<string, ort.Tensor>(Object.entries(feeds));
    const pick = (names: string[], rename: (name: string) => string = (n) => n) =>
      Object.fromEntries(names.map((name) => {
        const value = values.get(name);
        if (!value) throw new RangeError(`recomputing step: no value for input ${name}`);
        return [rename(name), value];
      }));
    const segments = this.segments;
    for (const segment of segments.slice(0, -1)) {
      if (!segment.forward) continue;
      const out = await segment.forward.run(pick(segment.graphs.inputs));
      for (const name of segment.graphs.outputs) values.set(name, out[checkpointName(name)]);
    }
    const gradients = new Map<string, ort.Tensor>();
    const result: Record<string, ort.Tensor> = {};
    for (let s = segments.length - 1; s >= 0; s--) {
      const { graphs, backward } = segments[s];
      if (backward) {
        const out = await backward.run({
          ...pick(graphs.inputs),
          ...Object.fromEntries(graphs.seeds.map((v) => [upstreamName(v), gradients.get(v)!])),
        });
        for (const name of graphs.gradients) gradients.set(name, out[gradientName(name)]);
        if (s === segments.length - 1) {
          for (const name of graphs.outputs) values.set(name, out[checkpointName(name)]);
        }
      }
      // what this segment computed is read by no earlier segment
      for (const name of graphs.outputs) {
        if (this.outputNames.includes(name)) result[name] = values.get(name)!;
        values.delete(name);
        gradients.delete(name);
      }
    }
    for (const [wrt, name] of this.gradientOutputs) result[name] = gradients.get(wrt)!;
    if (!fetches) return result;
    return Object.fromEntries(fetches.map((name) => {
      if (!(name in result)) {
        throw new RangeError(
          `recomputing step: no output ${name}; it has ${Object.keys(result).join(", ")}`,
        );
      }
      return [name, result[name]];
    }));
  }

  /** Releases every segment's sessions. */
  async release(): Promise<void> {
    for (const segment of this.segments) {
      await segment.forward?.release();
      await segment.backward?.release();
    }
  }
}

/** A forward graph with the output name of each gradient (`prompt_offset` -> `grad_prompt_offset`). */
export interface TrainForwardGraph extends SegmentableGraph {
  /** Gradient output names by differentiated input, in the order the one-graph step outputs them. */
  gradientOutputs: Map<string, string>;
}

/**
 * Turns a forward graph into the one-graph train step, in place: the backward pass of the whole
 * graph appended, each gradient an output under its name in `gradientOutputs`. Builders of the
 * plain steps (models/train/prompt_tuning_graph.ts, backbone_graphs.ts) use it, so a step planned
 * as one segment ({@link plannedTrainStep}) is their graph byte for byte.
 */
export function appendWholeBackward(forward: TrainForwardGraph): GraphBuilder {
  const g = forward.graph;
  const loss: Value = { name: forward.loss, dtype: "float32", shape: [] };
  const wrt = forward.wrt.map((name) => {
    const value = g.inputs.find((v) => v.name === name);
    if (!value) throw new RangeError(`${g.name}: no input ${name} to differentiate`);
    return value;
  });
  const gradients = appendGradients(g, loss, wrt, forward.inputDims ?? {});
  for (const [name, output] of forward.gradientOutputs) {
    const gradient = gradients.get(name);
    if (!gradient) throw new RangeError(`${g.name}: ${name} does not reach the loss`);
    g.output(gradient, output);
  }
  return g;
}

/**
 * Plans `forward` for the budget without building anything, to refuse a budget before training
 * starts: throws a {@link MemoryBudgetError} whose message begins with `what` (the step and the
 * sizes it was planned at) when the budget cannot hold the largest layer.
 */
export function checkMemoryBudget(
  what: string,
  forward: SegmentableGraph,
  budgetBytes: number,
): SegmentPlan {
  try {
    return planSegments(forward, budgetBytes);
  } catch (error) {
    if (error instanceof MemoryBudgetError) {
      throw new MemoryBudgetError(`${what}: ${error.message}`);
    }
    throw error;
  }
}

/** What a tuner records about the memory of its steps (run records, logs). */
export interface TrainingMemory {
  /** The budget every step was planned for, in bytes. */
  budgetBytes: number;
  /** The plan of each step graph built, in the order they were built. */
  plans: PlanRecord[];
}

/** A planned graph of a training run, for logs and run records. */
export interface PlanRecord {
  /** Which graph at which sizes (`head 100x168,50x84,...`, `image-vjp 800x1344`). */
  graph: string;
  /** Segments the step runs in (1: the plain one-graph step). */
  segments: number;
  /** The plan's estimated peak of the step in bytes. */
  plannedPeakBytes: number;
}

/** Options of {@link plannedTrainStep}. */
export interface PlannedStepOptions {
  /** Peak memory the step may use, in bytes. */
  memoryBudgetBytes: number;
  /**
   * Where the step runs: as given for the one-graph step; for segments its
   * {@link TrainingRuntime.withoutMemoryArena} variant where it has one.
   * @default onnxruntime-node on the CPU
   */
  runtime?: TrainingRuntime;
}

/**
 * The train step of `forward` within a memory budget: when the plan is one segment, the
 * one-graph step (the forward graph with its whole backward pass appended, on `runtime` as it
 * is), else a {@link RecomputingStep} of the planned segments. Throws a
 * {@link MemoryBudgetError} when the budget cannot hold the largest layer.
 */
export async function plannedTrainStep(
  forward: TrainForwardGraph,
  options: PlannedStepOptions,
): Promise<{ session: TrainingSession; plan: SegmentPlan }> {
  const plan = planSegments(forward, options.memoryBudgetBytes);
  if (plan.segments.length === 1) {
    const runtime = options.runtime ?? onnxRuntime();
    const session = await runtime.create(appendWholeBackward(forward).build().model);
    return { session, plan };
  }
  const step = await RecomputingStep.create(forward, forward.gradientOutputs, {
    memoryBudgetBytes: options.memoryBudgetBytes,
    runtime: options.runtime,
  });
  return { session: step, plan: step.plan };
}

/**
 * Train steps planned within one budget, built on first use and kept by key (a graph per shape
 * signature), with the plan of each for the run record.
 */
export class PlannedSteps {
  readonly #steps = new Map<string, Promise<TrainingSession>>();
  readonly #plans: PlanRecord[] = [];

  /**
   * `options`: the budget every step is planned for and where the steps run; `log` hears of each
   * step that is recomputed by segments.
   */
  constructor(
    readonly options: PlannedStepOptions,
    readonly log: (line: string) => void = () => {},
  ) {}

  /** The step of `key`, planning and building it from `forward` the first time. */
  get(key: string, forward: () => TrainForwardGraph): Promise<TrainingSession> {
    let step = this.#steps.get(key);
    if (!step) {
      step = plannedTrainStep(forward(), this.options).then(({ session, plan }) => {
        this.#plans.push({
          graph: key,
          segments: plan.segments.length,
          plannedPeakBytes: plan.estimatedPeakBytes,
        });
        if (plan.segments.length > 1) {
          this.log(
            `${key}: recomputed in ${plan.segments.length} segments, planned peak ${
              gib(plan.estimatedPeakBytes)
            } (budget ${gib(plan.budgetBytes)})`,
          );
        }
        return session;
      });
      this.#steps.set(key, step);
    }
    return step;
  }

  /** The plans of the steps built so far, in the order they were built. */
  get plans(): PlanRecord[] {
    return [...this.#plans];
  }

  /** Releases every step built (a step that failed to build has nothing to release). */
  async release(): Promise<void> {
    for (const step of this.#steps.values()) {
      const session = await step.catch(() => null);
      await session?.release();
    }
    this.#steps.clear();
  }
}
