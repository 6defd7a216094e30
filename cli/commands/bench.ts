/**
 * `deno task bench <suite>`: the main job. Runs every (model, engine) combination over a suite's
 * tasks, streams detections to disk (resumable, shardable), scores them, and writes run records
 * and a report. With no data and no `--model`, `odinw` runs the embedded demo.
 *
 * @module
 */
import { join } from "node:path";
import {
  booleanFlag,
  integerFlag,
  integerListFlag,
  listFlag,
  parseCommandArgs,
  stringFlag,
} from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, info, out, outJson, warn } from "../output.ts";
import { preparePlugins } from "../plugins.ts";
import { engines, protocols, suites } from "../../core/registries.ts";
import { UsageError } from "../../core/errors.ts";
import { describeDataRoot, resolveDataRoot } from "../../datasets/data_root.ts";
import type { DetectionSuite, DetectionTask } from "../../benchmarks/suite.ts";
import { parseShard, type Shard } from "../../benchmarks/shard.ts";
import { checkpointPath, runAdaptation, summarizeByShots } from "../../benchmarks/adaptation.ts";
import { CACHE_DIR, demoBundle, resolveModel } from "../../benchmarks/models.ts";
import {
  type PreparedTask,
  prepareTask,
  runInference,
  scoreTask,
  storedDetections,
  taskResult,
} from "../../benchmarks/runner.ts";
import { peakRssBytes, StageTimer } from "../../benchmarks/stage_timer.ts";
import {
  gitCommit,
  machineDescription,
  sha256Hex,
  SUITE_VERSION,
} from "../../benchmarks/provenance.ts";
import {
  RUN_RECORD_SCHEMA,
  RUN_RECORD_VERSION,
  type RunRecord,
  writeRunRecord,
} from "../../benchmarks/run_record.ts";
import { bundleDigest, type ModelBundle } from "../../models/bundle.ts";
import { generateDemoSet } from "../../datasets/demo/generate.ts";
import { generateFlickrDemo } from "../../datasets/demo/flickr.ts";
import { odinwDetectionTask } from "../../benchmarks/suites/odinw.ts";
import { mergeShards } from "../../benchmarks/merge.ts";
import { checkTrainerTemplate } from "../../benchmarks/external_trainer.ts";
import { trainingRuntime } from "../../benchmarks/native_trainer.ts";
import { FEW_SHOT_SAMPLERS, type FewShotSampler } from "../../datasets/fewshot.ts";
import { unknownNameMessage } from "../../core/did_you_mean.ts";
import {
  type FewShotSubmission,
  writeSubmission,
  type ZeroShotSubmission,
} from "../../benchmarks/leaderboard.ts";

const HELP = `deno task bench <suite> [options]
deno task bench merge SHARD_DIR... --out DIR

Examples:
  deno task bench odinw                                   ODinW-13 zero-shot (the demo when no data is present)
  deno task bench odinw --model bundles/glip-t --tasks Aquarium,pothole --prompt engineered
  deno task bench odinw --model glip_tiny_model_o365_goldg_cc_sbu.pth --model-config glip-t
  deno task bench odinw --engine onnx,webgpu --limit 5     compare engines on a smoke run
  deno task bench odinw --shard 2/4 --out runs/s2          one slice of the images (job arrays)
  deno task bench merge runs/s1 runs/s2 runs/s3 runs/s4 --out runs/all
  deno task bench odinw --resume --out runs/odinw-2026-11-22   continue a killed run

Options:
  --engine LIST        engines to run (default onnx); see 'deno task list engines'
  --model LIST         bundle folders or .pth checkpoints (exported on first use and cached)
  --model-config NAME  architecture of .pth models (default glip-t)
  --protocol NAME      zero-shot (default), few-shot, prompt-tuning
  --tasks LIST         task names (default: all of the set)
  --set NAME           odinw13 (default) or odinw35
  --prompt NAME        raw (odinw_13 names, default) or engineered (odinw_35 prompts)
  --split NAME         split to evaluate (default: GLIP's zero-shot split; test for fine-tuning)
  --data DIR           data root (default: $GLIP_BENCH_DATA, then ./DATASET)
  --demo               run the embedded demo (synthetic ODinW-shaped data, the nano demo model)
  --out DIR            run folder (default runs/<suite>-<date>)
  --resume             continue the run in --out, keeping finished images
  --shard i/n          run a deterministic slice of the images
  --limit N            only the first N images of each task (smoke run; numbers not comparable)
  --threads N          CPU threads per engine
  --dtype fp32|fp16    compute precision (fp16: webgpu on adapters with shader-f16)
  --allow-cpu-fallback let GPU engines run nodes on the CPU (reported in the run record)
  --checkpoints PAT    (few-shot, prompt-tuning) adapted checkpoints or bundles, e.g.
                       'ckpts/{task}/{shots}_{seed}.pth', evaluated on --split (default test)
  --trainer CMD        (few-shot, prompt-tuning) an external trainer run once per cell, e.g.
                       'python tools/finetune.py ... {task} {shots} {seed} {train_json} {val_json} {out}';
                       it leaves a checkpoint in {out} (bundle folder, .pth, .safetensors)
  --trainer native     the suite's own GLIP tuning of --model, best-on-val: prompt-tuning (its
                       default; AdamW lr 0.05, wd 0.25) or few-shot (full model; lr 1e-4, language
                       1e-5, wd 0.05); batch 4, multi-scale + flip, plateau and early stopping
  --epochs N           (--trainer native) at most N epochs (GLIP: 200, with early stopping)
  --sampler NAME       k-shot sampler for --trainer: seeded (COCODataset, default) or sorted
                       (CocoGrounding, GLIP's README path: the same images for every seed)
  --shots LIST         shots for the adaptation protocols (default 1,3,5,10)
  --seeds LIST         seeds for the adaptation protocols (default 3,30,300)
  --no-report          do not build the HTML report
  --json               print the results (per task, with AP) as JSON`;

const TODAY = () => new Date().toISOString().slice(0, 10);

/** The `bench` subcommand. */
export const command: Command = {
  name: "bench",
  summary:
    "run a benchmark suite (odinw, ...) over engines and models; write run records and a report",
  async run(args) {
    if (args[0] === "merge") return await mergeCommand(args.slice(1));
    const parsed = await parseCommandArgs("bench", args, {
      engine: { type: "string" },
      model: { type: "string" },
      "model-config": { type: "string" },
      protocol: { type: "string" },
      tasks: { type: "string" },
      set: { type: "string" },
      prompt: { type: "string" },
      split: { type: "string" },
      data: { type: "string" },
      demo: { type: "boolean" },
      out: { type: "string" },
      resume: { type: "boolean" },
      shard: { type: "string" },
      limit: { type: "string" },
      threads: { type: "string" },
      dtype: { type: "string" },
      "allow-cpu-fallback": { type: "boolean" },
      "no-report": { type: "boolean" },
      checkpoints: { type: "string" },
      trainer: { type: "string" },
      epochs: { type: "string" },
      sampler: { type: "string" },
      shots: { type: "string" },
      seeds: { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    await preparePlugins(parsed);
    const suiteName = parsed.positionals[0];
    if (!suiteName) {
      throw new UsageError(
        `bench: name a suite: ${suites.names().join(", ")}. See 'bench --help'.`,
      );
    }
    const suite = await suites.get(suiteName);
    const json = booleanFlag(parsed, "json");
    if (suite.kind !== "detection") {
      return await suite.run({ args: parsed.positionals.slice(1), json });
    }
    const protocol = stringFlag(parsed, "protocol") ?? "zero-shot";
    const protocolDefinition = await protocols.get(protocol);
    const adapts = protocolDefinition.adapts;
    // prompt tuning runs natively unless adapted weights come from elsewhere
    const trainer = stringFlag(parsed, "trainer") ??
      (protocol === "prompt-tuning" && !stringFlag(parsed, "checkpoints") ? "native" : undefined);
    if (adapts && stringFlag(parsed, "checkpoints") && trainer) {
      throw new UsageError("bench: give either --checkpoints or --trainer, not both");
    }
    if (adapts && !stringFlag(parsed, "checkpoints") && !trainer) {
      throw new UsageError(
        `bench: the ${protocol} protocol needs adapted weights: give --checkpoints 'DIR/{task}/{shots}_{seed}.pth' ` +
          `(checkpoints trained elsewhere), --trainer 'COMMAND {task} {shots} {seed} {train_json} {out}' ` +
          `(an external trainer run per cell, e.g. GLIP's tools/finetune.py)` +
          (protocol === "prompt-tuning"
            ? ` or --trainer native (the suite's own prompt tuning)`
            : ""),
      );
    }
    if (trainer && trainer !== "native") checkTrainerTemplate(trainer);
    if (stringFlag(parsed, "epochs") !== undefined && trainer !== "native") {
      throw new UsageError("bench: --epochs applies to --trainer native only");
    }
    const sampler = stringFlag(parsed, "sampler") ?? "seeded";
    if (!FEW_SHOT_SAMPLERS.includes(sampler as FewShotSampler)) {
      throw new UsageError(unknownNameMessage("sampler", sampler, [...FEW_SHOT_SAMPLERS]));
    }
    // GLIP reports adapted models on test (the best-on-val checkpoint, tools/eval_all.py).
    const split = stringFlag(parsed, "split") ?? (adapts ? "test" : undefined);
    const limit = integerFlag("bench", parsed, "limit", { min: 1 });
    const threads = integerFlag("bench", parsed, "threads", { min: 1 });
    const shard: Shard | undefined = stringFlag(parsed, "shard")
      ? parseShard(stringFlag(parsed, "shard")!)
      : undefined;
    const engineNames = listFlag(parsed, "engine") ?? ["onnx"];
    for (const name of engineNames) engines.entry(name);
    const root = resolveDataRoot(stringFlag(parsed, "data"));
    const modelSpecs = listFlag(parsed, "model");
    const present = await suite.present(root.path);
    const demo = booleanFlag(parsed, "demo") || (!present && !modelSpecs && suite.name === "odinw");
    let tasks: DetectionTask[];
    let models: { label: string; bundle: ModelBundle }[];
    let dataRootPath = root.path;
    const demoModels = async () =>
      modelSpecs
        ? await Promise.all(
          modelSpecs.map(async (spec) => ({
            label: labelOf(spec),
            bundle: await resolveModel(spec, stringFlag(parsed, "model-config") ?? "glip-t", info),
          })),
        )
        : [{ label: "nano-demo", bundle: await demoBundle(info) }];
    if (demo && suite.name === "flickr30k") {
      const demoRoot = await generateFlickrDemo(join(CACHE_DIR, "demo-flickr30k"), { seed: 0 });
      dataRootPath = demoRoot;
      tasks = await suite.tasks({ dataRoot: demoRoot, split });
      models = await demoModels();
    } else if (demo && suite.name !== "odinw") {
      throw new UsageError(
        `bench: the embedded demo exists for odinw and flickr30k, not ${suite.name}`,
      );
    } else if (demo) {
      if (!booleanFlag(parsed, "demo")) {
        info(
          `No ODinW data under ${
            describeDataRoot(root)
          }: running the embedded demo (synthetic ODinW-shaped tasks; the nano demo model, its fusion + head trained on a generated grounding corpus: the numbers test the suite, not GLIP). Use --data DIR for real data.`,
        );
      }
      const demoSet = await generateDemoSet(join(CACHE_DIR, "demo-data"), { seed: 0 });
      dataRootPath = demoSet.root;
      const selected = listFlag(parsed, "tasks");
      const demoTasks = selected
        ? demoSet.tasks.filter((t) => selected.includes(t.name))
        : demoSet.tasks;
      if (selected && demoTasks.length !== selected.length) {
        throw new UsageError(
          `bench: the demo has tasks ${demoSet.tasks.map((t) => t.name).join(", ")}`,
        );
      }
      tasks = [];
      for (const task of demoTasks) {
        tasks.push(
          await odinwDetectionTask(task, {
            root: demoSet.root,
            split,
            prompt: (stringFlag(parsed, "prompt") ?? "raw") as "raw",
            dataset: "demo",
          }),
        );
      }
      models = await demoModels();
    } else {
      if (!present) {
        throw new UsageError(
          `bench: no ${suite.name} data under ${
            describeDataRoot(root)
          }; get it with 'deno task data ${suite.name}', point --data at it, or use --demo`,
        );
      }
      if (!modelSpecs && !adapts) {
        throw new UsageError(
          "bench: give --model (a bundle folder or a .pth checkpoint) to run on real data",
        );
      }
      tasks = await suite.tasks({
        dataRoot: root.path,
        tasks: listFlag(parsed, "tasks"),
        set: stringFlag(parsed, "set"),
        prompt: stringFlag(parsed, "prompt"),
        split,
      });
      models = [];
      for (const spec of modelSpecs ?? []) {
        models.push({
          label: labelOf(spec),
          bundle: await resolveModel(spec, stringFlag(parsed, "model-config") ?? "glip-t", info),
        });
      }
    }
    const outDir = stringFlag(parsed, "out") ?? join("runs", `${suite.name}-${TODAY()}`);
    const resume = booleanFlag(parsed, "resume");
    await Deno.mkdir(outDir, { recursive: true });
    if (adapts) {
      return await adaptationCommand({
        parsed,
        protocol,
        tasks,
        models,
        engineNames,
        outDir,
        resume,
        limit,
        threads,
        json,
        demo,
        rootPath: dataRootPath,
        suite: suite as DetectionSuite,
      });
    }
    const matrix = models.length * engineNames.length > 1;
    const records: { dir: string; record: RunRecord }[] = [];
    for (const model of models) {
      // Fail before inference when the bundle cannot hold a task's prompts.
      const preparedFor = async (dir: string) => {
        const prepared: PreparedTask[] = [];
        for (const task of tasks) {
          prepared.push(
            await prepareTask(task, { bundle: model.bundle, outDir: dir, shard, limit }),
          );
        }
        return prepared;
      };
      for (const engineName of engineNames) {
        const dir = matrix ? join(outDir, `${model.label}__${engineName}`) : outDir;
        const prepared = await preparedFor(dir);
        const factory = await engines.get(engineName);
        const availability = await factory.probe();
        if (!availability.available) {
          throw new UsageError(
            `bench: engine '${engineName}' is not available here: ${availability.reason}`,
          );
        }
        const engine = await factory.create(model.bundle, {
          threads,
          allowCpuFallback: booleanFlag(parsed, "allow-cpu-fallback"),
          dtype: dtypeFlag(parsed),
        });
        const timer = new StageTimer();
        const started = performance.now();
        let imagesRun = 0;
        const taskResults = [];
        try {
          for (const task of prepared) {
            const { images } = await runInference(task, {
              engine,
              bundle: model.bundle,
              timer,
              outDir: dir,
              resume,
              shard,
              limit,
            });
            imagesRun += images;
            taskResults.push(taskResult(task, shard ? undefined : await scoreTask(task), dir));
          }
        } finally {
          await engine.dispose();
        }
        const wallSeconds = (performance.now() - started) / 1000;
        const record = await buildRecord({
          suite: suite.name,
          protocol,
          model,
          engineDescription: engine.describe() as unknown as RunRecord["engine"],
          prepared,
          taskResults,
          timer,
          wallSeconds,
          imagesRun,
          rootPath: dataRootPath,
          demo,
          shard,
          limit,
          suiteDefaults: (suite as DetectionSuite).defaults,
          prompt: stringFlag(parsed, "prompt") ?? "raw",
        });
        await writeRunRecord(join(dir, "run.json"), record);
        await writeCocoResults(prepared);
        if (suite.name === "odinw" && !shard) {
          const submission: ZeroShotSubmission = {};
          for (const task of prepared) {
            submission[task.task.name] = await storedDetections(
              [task.detectionsFile],
              task.imageIds,
            );
          }
          await writeLeaderboard(dir, prepared.map((p) => p.task), submission);
        }
        records.push({ dir, record });
        info(`run record: ${join(dir, "run.json")}`);
      }
    }
    if (!booleanFlag(parsed, "no-report") && !shard) {
      await buildReport(records.map((r) => r.dir), join(outDir, "report"));
    }
    printResults(records.map((r) => r.record), json);
    return 0;
  },
};

/** The few-shot / prompt-tuning protocols with checkpoints adapted elsewhere. */
async function adaptationCommand(input: {
  parsed: Awaited<ReturnType<typeof parseCommandArgs>>;
  protocol: string;
  tasks: DetectionTask[];
  models: { label: string; bundle: ModelBundle }[];
  engineNames: string[];
  outDir: string;
  resume: boolean;
  limit?: number;
  threads?: number;
  json: boolean;
  demo: boolean;
  rootPath: string;
  suite: DetectionSuite;
}): Promise<number> {
  const { parsed } = input;
  const shots = integerListFlag("bench", parsed, "shots") ?? [1, 3, 5, 10];
  const seeds = integerListFlag("bench", parsed, "seeds") ?? [3, 30, 300];
  const pattern = stringFlag(parsed, "checkpoints");
  const trainer = stringFlag(parsed, "trainer") ?? (pattern ? undefined : "native");
  const sampler = (stringFlag(parsed, "sampler") ?? "seeded") as FewShotSampler;
  const epochs = integerFlag("bench", parsed, "epochs", { min: 1 });
  const nativeBase = (base: { bundle: ModelBundle } | undefined): ModelBundle => {
    if (!base) {
      throw new UsageError("bench: --trainer native tunes the prompt of --model; give one");
    }
    return base.bundle;
  };
  const records: { dir: string; record: RunRecord }[] = [];
  for (const engineName of input.engineNames) {
    const dir = input.engineNames.length > 1 ? join(input.outDir, engineName) : input.outDir;
    const factory = await engines.get(engineName);
    const availability = await factory.probe();
    if (!availability.available) {
      throw new UsageError(
        `bench: engine '${engineName}' is not available here: ${availability.reason}`,
      );
    }
    const engineOptions = {
      threads: input.threads,
      allowCpuFallback: booleanFlag(parsed, "allow-cpu-fallback"),
      dtype: dtypeFlag(parsed),
    };
    const timer = new StageTimer();
    const started = performance.now();
    let imagesRun = 0;
    // The 0-shot point of the curve: the base model (--model, or the demo's nano) on the same split.
    const base = input.models[0];
    const zeroShot = new Map<string, RunRecord["tasks"][number]["result"]>();
    let description: RunRecord["engine"] | undefined;
    if (base) {
      const engine = await factory.create(base.bundle, engineOptions);
      try {
        for (const task of input.tasks) {
          const prepared = await prepareTask(task, {
            bundle: base.bundle,
            outDir: join(dir, "zero-shot"),
            limit: input.limit,
          });
          imagesRun += (await runInference(prepared, {
            engine,
            bundle: base.bundle,
            timer,
            outDir: join(dir, "zero-shot"),
            resume: input.resume,
            limit: input.limit,
          })).images;
          zeroShot.set(task.name, await scoreTask(prepared));
        }
        description = engine.describe() as unknown as RunRecord["engine"];
      } finally {
        await engine.dispose();
      }
    }
    const adaptation = await runAdaptation({
      tasks: input.tasks,
      shots,
      seeds,
      source: pattern ? { pattern } : trainer === "native"
        ? {
          native: {
            mode: input.protocol === "prompt-tuning" ? "prompt" : "full",
            bundle: nativeBase(base),
            outDir: dir,
            sampler,
            overrides: epochs === undefined ? {} : { maxEpochs: epochs },
            log: info,
          },
        }
        : { trainer: { template: trainer!, outDir: dir, sampler, log: info } },
      factory,
      engineOptions,
      resolveModel: (spec) =>
        resolveModel(spec, stringFlag(parsed, "model-config") ?? "glip-t", info),
      timer,
      outDir: dir,
      resume: input.resume,
      limit: input.limit,
    });
    imagesRun += adaptation.imagesRun;
    if (input.suite.name === "odinw") {
      for (const [shots, byTask] of adaptation.detections) {
        const single = shots === "all" && seeds.length === 1;
        await writeLeaderboard(
          dir,
          input.tasks,
          single
            ? Object.fromEntries(Object.entries(byTask).map(([t, s]) => [t, s[String(seeds[0])]]))
            : byTask,
          shots === "all" ? "all" : Number(shots),
        );
      }
    }
    const taskResults = adaptation.tasks.map((t) => ({ ...t, result: zeroShot.get(t.name) }));
    const firstBundle = base?.bundle ??
      await resolveModel(
        adaptation.tasks[0]?.cells?.[0]?.checkpoint?.path ??
          checkpointPath(pattern ?? "", input.tasks[0].name, shots[0], seeds[0]),
        stringFlag(parsed, "model-config") ?? "glip-t",
      );
    const record = await buildRecord({
      suite: input.suite.name,
      protocol: input.protocol,
      model: base ?? { label: "adapted", bundle: firstBundle },
      engineDescription: description ?? (adaptation.engineDescription as RunRecord["engine"]),
      prepared: [],
      taskResults,
      timer,
      wallSeconds: (performance.now() - started) / 1000,
      imagesRun,
      rootPath: input.rootPath,
      demo: input.demo,
      limit: input.limit,
      suiteDefaults: input.suite.defaults,
      prompt: stringFlag(parsed, "prompt") ?? "raw",
      annotationFiles: input.tasks.map((t) => t.annotationFile),
    });
    const byShots = summarizeByShots(taskResults);
    const largest = String(Math.max(...shots));
    record.summary = {
      ...record.summary,
      mean: byShots[largest]?.mean ?? -1,
      metric: `AP (${largest}-shot, mean over seeds)`,
      byShots,
    };
    record.settings.shots = shots;
    record.settings.seeds = seeds;
    record.settings.split = input.tasks.map((t) => `${t.name}:${t.split}`).join(", ");
    record.settings.deliberateDifferences.push(
      pattern
        ? `Adapted checkpoints come from ${pattern}; model selection on val (GLIP keeps the best-on-val checkpoint) happened where they were trained. Each is evaluated on ${
          input.tasks[0]?.split ?? "test"
        }.`
        : trainer === "native" && input.protocol !== "prompt-tuning"
        ? `Fully tuned by the suite's native trainer (GLIP's full override: AdamW lr 1e-4, language backbone 1e-5, ` +
          `biases x2 lr without weight decay, weight decay 0.05, Swin patch embedding and stage 1 frozen, batch 4 by ` +
          `gradient accumulation, multi-scale short side and flip, grad clip 1.0, plateau and early stopping on val AP` +
          `${
            epochs === undefined ? "" : `, at most ${epochs} epochs instead of 200`
          }) in float32 where GLIP uses AMP; ` +
          `Swin's relative position bias stays frozen (our graphs hold it expanded); k-shot images from GLIP's ${sampler} ` +
          `sampler; the best-on-val model is evaluated on ${input.tasks[0]?.split ?? "test"}.`
        : trainer === "native"
        ? `Prompt-tuned by the suite's native trainer (GLIP's language_prompt_v2: AdamW lr 0.05, weight decay 0.25, ` +
          `batch 4 by gradient accumulation, multi-scale short side and flip, grad clip 1.0, plateau and early stopping on val AP` +
          `${
            epochs === undefined ? "" : `, at most ${epochs} epochs instead of 200`
          }) in float32 where GLIP uses AMP, on k-shot ` +
          `images from GLIP's ${sampler} sampler; the best-on-val prompt is evaluated on ${
            input.tasks[0]?.split ?? "test"
          }.`
        : `Adapted by the external trainer '${trainer}' on k-shot training files from GLIP's ${sampler} sampler ` +
          `(${
            sampler === "seeded"
              ? "COCODataset: shuffled by the seed"
              : "CocoGrounding, the README's _grounding path: the same images for every seed"
          }); model selection is the trainer's; each checkpoint is evaluated on ${
            input.tasks[0]?.split ?? "test"
          }.`,
    );
    if (trainer === "native") {
      record.settings.deliberateDifferences.push(
        `Training graphs ran on ${
          trainingRuntime(engineName, engineOptions).description
        }; model selection on val and the test evaluation ran on the ${engineName} engine.`,
      );
    }
    record.taskSpecs = input.tasks.map((t) => ({ ...t, card: undefined }));
    await writeRunRecord(join(dir, "run.json"), record);
    records.push({ dir, record });
    info(`run record: ${join(dir, "run.json")}`);
  }
  if (!booleanFlag(parsed, "no-report")) {
    await buildReport(records.map((r) => r.dir), join(input.outDir, "report"));
  }
  if (input.json) {
    outJson(records.map(({ record }) => ({
      engine: record.engine.engine,
      byShots: record.summary.byShots,
      tasks: Object.fromEntries(
        record.tasks.map((
          t,
        ) => [t.name, {
          zeroShot: t.result?.headline ?? null,
          cells: (t.cells ?? []).map((c) => ({
            shots: c.shots,
            seed: c.seed,
            AP: c.test.headline,
          })),
        }]),
      ),
    })));
  } else {
    for (const { record } of records) {
      out(
        `${record.engine.engine}: ${input.protocol}, mean ± std over seeds of the suite average AP`,
      );
      out(
        formatTable(
          ["shots", "AP", "± std"],
          Object.entries(record.summary.byShots ?? {}).map((
            [k, v],
          ) => [k, (100 * v.mean).toFixed(1), (100 * v.std).toFixed(1)]),
        ),
      );
    }
  }
  return 0;
}

function dtypeFlag(parsed: Awaited<ReturnType<typeof parseCommandArgs>>): "fp32" | "fp16" {
  const dtype = stringFlag(parsed, "dtype") ?? "fp32";
  if (dtype !== "fp32" && dtype !== "fp16") {
    throw new UsageError(`bench: --dtype is fp32 or fp16 (got '${dtype}')`);
  }
  return dtype;
}

function labelOf(spec: string): string {
  return spec.replace(/\/+$/, "").split("/").at(-1)!.replace(/\.(pth|pt|bin)$/, "").replace(
    /[^A-Za-z0-9._-]+/g,
    "_",
  );
}

async function buildRecord(input: {
  suite: string;
  protocol: string;
  model: { label: string; bundle: ModelBundle };
  engineDescription: RunRecord["engine"];
  prepared: PreparedTask[];
  taskResults: RunRecord["tasks"];
  timer: StageTimer;
  wallSeconds: number;
  imagesRun: number;
  rootPath: string;
  demo: boolean;
  shard?: Shard;
  limit?: number;
  suiteDefaults: DetectionSuite["defaults"];
  prompt: string;
  /** Annotation files for the data hash when `prepared` is empty. */
  annotationFiles?: string[];
}): Promise<RunRecord> {
  const manifest = input.model.bundle.manifest;
  const headlines = input.taskResults.map((t) => t.result?.headline ?? -1).filter((v) => v > -1);
  const files = input.annotationFiles ?? input.prepared.map((p) => p.task.annotationFile);
  const dataHash = await sha256Hex(
    (await Promise.all(
      files.map(async (file) => `${file}:${await sha256Hex(await Deno.readFile(file))}`),
    ))
      .join("\n"),
  );
  const deliberateDifferences = [
    "Head outputs computed in fp32 by ONNX graphs exported from the official module definitions (no CUDA kernels); tolerance vs. the official code is checked by the fidelity tests.",
    ...(input.demo
      ? [
        "Embedded demo: synthetic data and the nano demo model (random backbones, fusion + head trained on a generated grounding corpus that excludes the demo tasks' images); the numbers test the pipeline, not GLIP.",
      ]
      : []),
    ...(input.limit ? [`Smoke run: only the first ${input.limit} images of each task.`] : []),
  ];
  return {
    schema: RUN_RECORD_SCHEMA,
    version: RUN_RECORD_VERSION,
    id: `${input.suite}-${input.model.label}-${input.engineDescription.engine}-${
      new Date().toISOString()
    }`,
    createdAt: new Date().toISOString(),
    suite: input.suite,
    protocol: input.protocol,
    settings: {
      split: input.prepared.map((p) => `${p.task.name}:${p.task.split}`).join(", "),
      promptVariant: input.prompt,
      postprocess: { ...manifest.postprocess },
      preprocess: { ...manifest.preprocess },
      ...(input.limit ? { limit: input.limit } : {}),
      ...(input.shard ? { shard: `${input.shard.index}/${input.shard.count}` } : {}),
      deliberateDifferences,
    },
    model: {
      name: input.model.label,
      configName: manifest.configName,
      bundleSha256: await bundleDigest(manifest),
      checkpointSha256: manifest.source.sha256,
      demo: input.demo,
    },
    engine: input.engineDescription,
    provenance: {
      suiteVersion: SUITE_VERSION,
      gitCommit: await gitCommit(),
      deno: Deno.version.deno,
      machine: machineDescription(),
      dataRoot: input.rootPath,
      dataHash,
      command: ["deno", "task", "bench", ...Deno.args.slice(1)],
    },
    tasks: input.taskResults,
    summary: {
      mean: headlines.length ? headlines.reduce((a, b) => a + b, 0) / headlines.length : -1,
      metric: input.taskResults[0]?.result?.metric === "flickr30k" ? "R@1" : "AP",
      tasks: input.taskResults.length,
    },
    timings: {
      wallSeconds: input.wallSeconds,
      imagesPerSecond: input.imagesRun / Math.max(input.wallSeconds, 1e-9),
      peakRssBytes: peakRssBytes(),
      stages: input.timer.summary(),
    },
    invocations: input.timer.counts(),
    taskSpecs: input.prepared.map((p) => ({ ...p.task, card: undefined, imageIds: p.imageIds })),
  };
}

/** Writes an ODinW leaderboard file under `<dir>/leaderboard/`, saying when a split is not test. */
async function writeLeaderboard(
  dir: string,
  tasks: DetectionTask[],
  submission: ZeroShotSubmission | FewShotSubmission,
  shots?: number | "all",
): Promise<void> {
  const path = await writeSubmission(join(dir, "leaderboard"), submission, shots);
  const notTest = tasks.filter((t) => t.split !== "test");
  info(
    `ODinW leaderboard file: ${path}${
      notTest.length
        ? ` (the leaderboard scores test; ${
          notTest.map((t) => `${t.name} used ${t.split}`).join(", ")
        })`
        : ""
    }`,
  );
}

/**
 * Writes each task's detections in its evaluator's format: a COCO results file
 * (`detections/<task>.bbox.json`), or for grounding MDETR's predictions
 * (`detections/<task>.flickr.json`, what 'deno task eval flickr30k --pred' reads).
 */
async function writeCocoResults(prepared: PreparedTask[]): Promise<void> {
  const { groundingPredictions } = await import("../../benchmarks/runner.ts");
  for (const task of prepared) {
    if (task.grounding) {
      await Deno.writeTextFile(
        task.detectionsFile.replace(/\.jsonl$/, ".flickr.json"),
        JSON.stringify(await groundingPredictions(task, [task.detectionsFile])),
      );
      continue;
    }
    const detections = await storedDetections([task.detectionsFile], task.imageIds);
    await Deno.writeTextFile(
      task.detectionsFile.replace(/\.jsonl$/, ".bbox.json"),
      JSON.stringify(detections),
    );
  }
}

async function buildReport(runDirs: string[], outDir: string): Promise<void> {
  try {
    const { buildSite } = await import("../../reports/site.ts");
    const index = await buildSite(runDirs, outDir);
    info(`report: ${index}`);
  } catch (error) {
    if ((error as Error).message.includes("Module not found")) {
      warn("the HTML report module is not available in this build; run records were written");
      return;
    }
    throw error;
  }
}

function fmt(value: number | undefined): string {
  return value === undefined || value < 0 ? "—" : (100 * value).toFixed(1);
}

function printResults(records: RunRecord[], json: boolean): void {
  if (json) {
    outJson(records.map((r) => ({
      model: r.model.name,
      engine: r.engine.engine,
      mean: r.summary.mean,
      tasks: Object.fromEntries(
        r.tasks.map((
          t,
        ) => [t.name, { AP: t.result?.headline ?? null, ...(t.result?.named ?? {}) }]),
      ),
    })));
    return;
  }
  const taskNames = records[0]?.tasks.map((t) => t.name) ?? [];
  const header = ["task", ...records.map((r) => `${r.model.name}/${r.engine.engine}`)];
  const rows = taskNames.map((
    name,
  ) => [name, ...records.map((r) => fmt(r.tasks.find((t) => t.name === name)?.result?.headline))]);
  rows.push(["Average", ...records.map((r) => fmt(r.summary.mean))]);
  out(formatTable(header, rows));
  for (const r of records) {
    out(
      `${r.model.name}/${r.engine.engine}: ${r.timings.imagesPerSecond.toFixed(2)} images/s, ${
        r.timings.wallSeconds.toFixed(1)
      } s, invocations ${JSON.stringify(r.invocations)}`,
    );
  }
}

async function mergeCommand(args: string[]): Promise<number> {
  const parsed = await parseCommandArgs("bench merge", args, {
    out: { type: "string" },
    "no-report": { type: "boolean" },
  });
  if (booleanFlag(parsed, "help")) {
    out(HELP);
    return 0;
  }
  const outDir = stringFlag(parsed, "out");
  if (!outDir) throw new UsageError("bench merge: --out DIR is required");
  if (parsed.positionals.length < 1) {
    throw new UsageError("bench merge: give the shard run folders to merge");
  }
  const record = await mergeShards(parsed.positionals, outDir);
  if (!booleanFlag(parsed, "no-report")) await buildReport([outDir], join(outDir, "report"));
  printResults([record], booleanFlag(parsed, "json"));
  return 0;
}
