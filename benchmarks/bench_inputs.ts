/**
 * What a benchmark run reads, resolved before any inference: the suite's tasks (or the embedded
 * demo's), the model bundles with a distinct label each, and the data root. Bad names, missing
 * data and missing splits fail here with a {@link UsageError}.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import { unknownNameMessage } from "../core/did_you_mean.ts";
import { describeDataRoot, resolveDataRoot } from "../datasets/data_root.ts";
import { generateDemoSet } from "../datasets/demo/generate.ts";
import { generateFlickrDemo } from "../datasets/demo/flickr.ts";
import type { ModelBundle } from "../models/bundle.ts";
import type { BenchOptions } from "./bench_run.ts";
import { CACHE_DIR, demoBundle, resolveModel } from "./models.ts";
import type { DetectionSuite, DetectionTask } from "./suite.ts";
import { odinwDetectionTask } from "./suites/odinw.ts";

/** A model of a run: the label its results carry, the bundle, and the `--model` value given. */
export interface BenchModel {
  label: string;
  bundle: ModelBundle;
  /** The `--model` value (bundle folder or checkpoint); undefined for the demo's own model. */
  spec?: string;
}

/**
 * What {@link resolveBenchInputs} needs: the task and model choices of a run (as
 * {@link BenchOptions} documents them), whether the protocol adapts the model (then the base model
 * is optional), and where progress lines go (exports on first use, the demo notice).
 */
export type BenchInputOptions =
  & Pick<
    BenchOptions,
    "models" | "modelConfig" | "tasks" | "set" | "prompt" | "split" | "dataRoot" | "demo"
  >
  & { adapts: boolean; log: (line: string) => void };

/** The resolved inputs of a run. */
export interface BenchInputs {
  tasks: DetectionTask[];
  models: BenchModel[];
  /** Whether the embedded demo runs. */
  demo: boolean;
  /** The data root the tasks' files are under (the demo's generated folder for the demo). */
  dataRootPath: string;
}

/**
 * Labels for `--model` values: the file or folder name, extended by parent folders until models
 * that share a basename differ (`a/model.pth`, `b/model.pth` -> `a_model`, `b_model`), and
 * numbered when the same path is given twice. Labels are safe as folder names.
 *
 * @example
 * ```ts
 * import { modelLabels } from "./bench_inputs.ts";
 * console.assert(modelLabels(["x/glip.pth", "y/glip.pth"]).join() === "x_glip,y_glip");
 * ```
 */
export function modelLabels(specs: readonly string[]): string[] {
  const parts = specs.map((spec) =>
    spec.replace(/\/+$/, "").split("/").filter((p) => p !== "" && p !== ".")
  );
  const labelAt = (i: number, depth: number) =>
    parts[i].slice(-depth).join("_").replace(/\.(pth|pt|bin)$/, "").replace(
      /[^A-Za-z0-9._-]+/g,
      "_",
    ) || "model";
  const depth = specs.map(() => 1);
  for (let round = 0; round < 64; round++) {
    const labels = specs.map((_, i) => labelAt(i, depth[i]));
    let changed = false;
    labels.forEach((label, i) => {
      const clash = labels.some((other, j) => j !== i && other === label);
      if (clash && depth[i] < parts[i].length) {
        depth[i]++;
        changed = true;
      }
    });
    if (!changed) break;
  }
  const labels = specs.map((_, i) => labelAt(i, depth[i]));
  const seen = new Map<string, number>();
  return labels.map((label) => {
    const count = (seen.get(label) ?? 0) + 1;
    seen.set(label, count);
    return count === 1 ? label : `${label}-${count}`;
  });
}

/**
 * The embedded ODinW demo has one task set, so `--set` (which would be recorded without changing
 * what runs) is refused; its prompt variants are raw and engineered (DemoColors' engineered
 * names differ), so any other `--prompt` is refused with a suggestion.
 */
function refuseDemoChoices(options: BenchInputOptions): void {
  if (options.set !== undefined) {
    throw new UsageError(
      `bench: the demo has one task set (its synthetic tasks); --set ${options.set} applies to real ODinW data (--data DIR)`,
    );
  }
  const variants = ["raw", "engineered"];
  if (options.prompt !== undefined && !variants.includes(options.prompt)) {
    throw new UsageError(
      `bench: ${
        unknownNameMessage("prompt variant", options.prompt, variants)
      } (the demo's prompt variants)`,
    );
  }
}

/** Resolves the tasks, models and data root of a detection suite's run. */
export async function resolveBenchInputs(
  suite: DetectionSuite,
  options: BenchInputOptions,
): Promise<BenchInputs> {
  const { log } = options;
  const config = options.modelConfig ?? "glip-t";
  const root = resolveDataRoot(options.dataRoot);
  const specs = options.models;
  const present = await suite.present(root.path);
  const demo = options.demo === true || (!present && !specs && suite.name === "odinw");
  const resolveModels = async (): Promise<BenchModel[]> => {
    if (!specs) return [];
    const labels = modelLabels(specs);
    const models: BenchModel[] = [];
    for (const [i, spec] of specs.entries()) {
      models.push({ label: labels[i], bundle: await resolveModel(spec, config, log), spec });
    }
    return models;
  };
  const demoModels = async () =>
    specs ? await resolveModels() : [{ label: "nano-demo", bundle: await demoBundle(log) }];
  if (demo && suite.name === "flickr30k") {
    const demoRoot = await generateFlickrDemo(join(CACHE_DIR, "demo-flickr30k"), { seed: 0 });
    return {
      tasks: await suite.tasks({ dataRoot: demoRoot, split: options.split }),
      models: await demoModels(),
      demo,
      dataRootPath: demoRoot,
    };
  }
  if (demo && suite.name !== "odinw") {
    throw new UsageError(
      `bench: the embedded demo exists for odinw and flickr30k, not ${suite.name}`,
    );
  }
  if (demo) {
    if (options.demo !== true) {
      log(
        `No ODinW data under ${
          describeDataRoot(root)
        }: running the embedded demo (synthetic ODinW-shaped tasks; the nano demo model, its fusion + head trained on a generated grounding corpus: the numbers test the suite, not GLIP). Use --data DIR for real data.`,
      );
    }
    refuseDemoChoices(options);
    const demoSet = await generateDemoSet(join(CACHE_DIR, "demo-data"), { seed: 0 });
    const selected = options.tasks;
    const demoTasks = selected
      ? demoSet.tasks.filter((t) => selected.includes(t.name))
      : demoSet.tasks;
    if (selected && demoTasks.length !== selected.length) {
      throw new UsageError(
        `bench: the demo has tasks ${demoSet.tasks.map((t) => t.name).join(", ")}`,
      );
    }
    const tasks: DetectionTask[] = [];
    for (const task of demoTasks) {
      tasks.push(
        await odinwDetectionTask(task, {
          root: demoSet.root,
          split: options.split,
          prompt: (options.prompt ?? "raw") as "raw",
          dataset: "demo",
        }),
      );
    }
    return { tasks, models: await demoModels(), demo, dataRootPath: demoSet.root };
  }
  if (!present) {
    throw new UsageError(
      `bench: no ${suite.name} data under ${
        describeDataRoot(root)
      }; get it with 'deno task data ${suite.name}', point --data at it, or use --demo`,
    );
  }
  if (!specs && !options.adapts) {
    throw new UsageError(
      "bench: give --model (a bundle folder or a .pth checkpoint) to run on real data",
    );
  }
  const tasks = await suite.tasks({
    dataRoot: root.path,
    tasks: options.tasks,
    set: options.set,
    prompt: options.prompt,
    split: options.split,
  });
  return { tasks, models: await resolveModels(), demo, dataRootPath: root.path };
}
