/**
 * `--trainer 'COMMAND {task} {shots} {seed} {train_json} {out}'`: adaptation by an external
 * program (for example GLIP's own `tools/finetune.py` on a GPU cluster). For each (task, shots,
 * seed) cell the suite writes the k-shot training file with GLIP's sampler, runs the command
 * once with the placeholders filled in (shell-quoted), and evaluates the checkpoint the command
 * leaves in `{out}`. A finished cell is marked done, so a resumed run does not train it again.
 *
 * Placeholders: `{task}`, `{shots}` (`all` for full data), `{seed}`, `{train_json}` (the k-shot
 * subset of the task's train split), `{val_json}` (the task's val split, which GLIP's README
 * path uses for model selection), `{out}` (an empty folder for the result).
 *
 * The checkpoint in `{out}`: a bundle folder (`manifest.json`), a `.pth` or a `.safetensors`
 * file; when there are several, `model_best.pth` (GLIP's best-on-val) then `model_final.pth`.
 *
 * @module
 */
import { join } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { loadCocoJson } from "../datasets/coco_json.ts";
import { type FewShotSampler, sampleFewShot, subsetCoco } from "../datasets/fewshot.ts";
import type { DetectionTask } from "./suite.ts";
import { pathExists } from "../core/fs.ts";

const PLACEHOLDERS = ["task", "shots", "seed", "train_json", "val_json", "out"] as const;

/** Quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Checks a trainer template: it must name `{out}` and only known placeholders. */
export function checkTrainerTemplate(template: string): void {
  const unknown = [...template.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => m[1]).filter((name) =>
    !(PLACEHOLDERS as readonly string[]).includes(name)
  );
  if (unknown.length > 0) {
    throw new UsageError(
      `--trainer: unknown placeholder(s) ${unknown.map((u) => `{${u}}`).join(", ")}; use ${
        PLACEHOLDERS.map((p) => `{${p}}`).join(" ")
      }`,
    );
  }
  if (!template.includes("{out}")) {
    throw new UsageError("--trainer: the command must write its checkpoint to {out}");
  }
}

/** Fills a trainer template, shell-quoting every value. */
export function fillTrainerTemplate(template: string, values: Record<string, string>): string {
  return template.replace(
    /\{([A-Za-z_]+)\}/g,
    (whole, name) => name in values ? shellQuote(values[name]) : whole,
  );
}

/** One cell of the adaptation grid. */
export interface TrainerCell {
  task: DetectionTask;
  shots: number | "all";
  seed: number;
}

/** What {@link trainCell} needs besides the cell. */
export interface TrainerOptions {
  template: string;
  /** Run folder; cells go to `trainer/<task>/<shots>_<seed>/`. */
  outDir: string;
  sampler: FewShotSampler;
  log?: (line: string) => void;
}

/** The checkpoint an external trainer left in `dir`. */
export async function findCheckpoint(dir: string): Promise<string> {
  const candidates: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && await pathExists(join(path, "manifest.json"))) candidates.push(path);
    if (entry.isFile && /\.(pth|pt|safetensors)$/.test(entry.name)) candidates.push(path);
  }
  candidates.sort();
  if (candidates.length === 1) return candidates[0];
  for (const preferred of ["model_best.pth", "model_final.pth"]) {
    const hit = candidates.find((c) => c.endsWith(`/${preferred}`));
    if (hit) return hit;
  }
  throw new InputError(
    candidates.length === 0
      ? "the trainer left no checkpoint (a bundle folder, .pth or .safetensors)"
      : `the trainer left several checkpoints and none is model_best.pth or model_final.pth: ${
        candidates.join(", ")
      }`,
    { file: dir },
  );
}

/**
 * Trains one cell with the external command (or finds it already trained) and returns the path
 * of its checkpoint. A failing command fails the run, with the end of its log.
 */
export async function trainCell(cell: TrainerCell, options: TrainerOptions): Promise<string> {
  const { task, shots, seed } = cell;
  const dir = join(
    options.outDir,
    "trainer",
    task.name.replace(/[^A-Za-z0-9._-]+/g, "_"),
    `${shots}_${seed}`,
  );
  const doneFile = join(dir, "done.json");
  if (await pathExists(doneFile)) {
    return (JSON.parse(await Deno.readTextFile(doneFile)) as { checkpoint: string }).checkpoint;
  }
  if (!task.trainAnnotationFile) {
    throw new UsageError(`--trainer: task ${task.name} has no train split to adapt on`);
  }
  const out = join(dir, "out");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  const train = await loadCocoJson(task.trainAnnotationFile);
  const imageIds = shots === "all"
    ? train.images.map((image) => image.id)
    : sampleFewShot(train, shots, { sampler: options.sampler, seed });
  const trainJson = join(dir, "train.json");
  await Deno.writeTextFile(trainJson, JSON.stringify(subsetCoco(train, imageIds)));
  const command = fillTrainerTemplate(options.template, {
    task: task.name,
    shots: String(shots),
    seed: String(seed),
    train_json: trainJson,
    val_json: task.valAnnotationFile ?? task.annotationFile,
    out,
  });
  options.log?.(`training ${task.name} ${shots}-shot seed ${seed}: ${command}`);
  const logFile = join(dir, "trainer.log");
  const child = new Deno.Command("sh", {
    args: ["-c", `exec >${shellQuote(logFile)} 2>&1\n${command}`],
    stdin: "null",
  }).spawn();
  const status = await child.status;
  if (!status.success) {
    const tail = (await Deno.readTextFile(logFile)).split("\n").slice(-15).join("\n");
    throw new Error(
      `the trainer failed (exit ${status.code}) on ${task.name} ${shots}-shot seed ${seed}; ` +
        `log: ${logFile}\n${tail}`,
    );
  }
  const checkpoint = await findCheckpoint(out);
  await Deno.writeTextFile(
    doneFile,
    JSON.stringify({ checkpoint, command, images: imageIds.length, sampler: options.sampler }),
  );
  return checkpoint;
}
