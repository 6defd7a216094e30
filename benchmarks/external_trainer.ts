/**
 * `--trainer 'COMMAND {task} {shots} {seed} {train_json} {out}'`: adaptation by an external
 * program (for example GLIP's own `tools/finetune.py` on a GPU cluster). For each (task, shots,
 * seed) cell the suite writes the k-shot training file with GLIP's sampler, runs the command
 * once with the values passed to \`sh\` as positional parameters (never spliced into the
 * command text), and evaluates the checkpoint the command
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
import {
  type FewShotSampler,
  type KShotSource,
  preparedFewShotCell,
  sampleFewShot,
  subsetCoco,
} from "../datasets/fewshot.ts";
import type { DetectionTask } from "./suite.ts";
import { pathExists } from "../core/fs.ts";
import { permissionAdvice } from "../core/permissions.ts";

const PLACEHOLDERS = ["task", "shots", "seed", "train_json", "val_json", "out"] as const;

/** Quotes a value for a POSIX shell (for messages a user may copy; values never reach a shell this way). */
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
  trainerScript(template, Object.fromEntries(PLACEHOLDERS.map((p) => [p, ""])));
}

/** A trainer command as `sh -c SCRIPT sh ARGS...`: the values travel as positional parameters. */
export interface TrainerScript {
  /** The template with each placeholder rewritten to `"${N}"`. */
  script: string;
  /** The values, in positional order (`$1` first). */
  args: string[];
}

/**
 * Rewrites a trainer template so that no value is ever spliced into shell text: each
 * placeholder becomes `"${N}"` and its value is passed as positional parameter N, so `$(...)`,
 * backquotes or quotes inside a value are never interpreted, also when the template itself puts
 * the placeholder in double quotes (`"{out}"` becomes `""${1}""`, still one word). A placeholder
 * inside single quotes would reach the command as the literal text `"${N}"`, so it is refused.
 *
 * @example
 * ```ts
 * import { trainerScript } from "./external_trainer.ts";
 * const { script, args } = trainerScript("train --out {out}", { out: "/tmp/$(id)" });
 * console.assert(script === 'train --out "${1}"' && args[0] === "/tmp/$(id)");
 * ```
 */
export function trainerScript(template: string, values: Record<string, string>): TrainerScript {
  const args: string[] = [];
  const position = new Map<string, number>();
  let script = "";
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < template.length; i++) {
    const char = template[i];
    const placeholder = /^\{([A-Za-z_]+)\}/.exec(template.slice(i));
    if (placeholder && Object.hasOwn(values, placeholder[1])) {
      if (quote === "'") {
        throw new UsageError(
          `--trainer: placeholder {${placeholder[1]}} is inside single quotes, where the shell ` +
            `would not expand it; leave it unquoted or use double quotes (got '${template}')`,
        );
      }
      let n = position.get(placeholder[1]);
      if (n === undefined) {
        args.push(values[placeholder[1]]);
        position.set(placeholder[1], n = args.length);
      }
      script += `"\${${n}}"`;
      i += placeholder[0].length - 1;
      continue;
    }
    if (char === "\\" && quote !== "'") {
      script += template.slice(i, i + 2);
      i++;
      continue;
    }
    if ((char === "'" || char === '"') && (quote === undefined || quote === char)) {
      quote = quote === undefined ? char : undefined;
    }
    script += char;
  }
  return { script, args };
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
  /**
   * `prepared`: `{train_json}` and `{val_json}` are GLIP's prepared k-shot files of the cell
   * instead of a sampled subset and the full val split. @default "sampled"
   */
  fewShotSource?: KShotSource;
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
    let done: unknown;
    try {
      done = JSON.parse(await Deno.readTextFile(doneFile));
    } catch (error) {
      throw new InputError(
        `not valid JSON (${(error as Error).message}); remove it to train again`,
        {
          file: doneFile,
        },
      );
    }
    const checkpoint = (done as { checkpoint?: unknown })?.checkpoint;
    if (typeof checkpoint !== "string") {
      throw new InputError("expected the trained checkpoint's path; remove it to train again", {
        file: doneFile,
        field: "checkpoint",
        value: checkpoint,
      });
    }
    return checkpoint;
  }
  if (!task.trainAnnotationFile) {
    throw new UsageError(`--trainer: task ${task.name} has no train split to adapt on`);
  }
  const out = join(dir, "out");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  const prepared = options.fewShotSource === "prepared"
    ? await preparedFewShotCell(task, shots, seed)
    : undefined;
  const train = await loadCocoJson(prepared?.train ?? task.trainAnnotationFile);
  const imageIds = shots === "all" || prepared
    ? train.images.map((image) => image.id)
    : sampleFewShot(train, shots, { sampler: options.sampler, seed });
  const trainJson = join(dir, "train.json");
  await Deno.writeTextFile(trainJson, JSON.stringify(subsetCoco(train, imageIds)));
  const values = {
    task: task.name,
    shots: String(shots),
    seed: String(seed),
    train_json: trainJson,
    val_json: prepared?.val ?? task.valAnnotationFile ?? task.annotationFile,
    out,
  };
  const { script, args } = trainerScript(options.template, values);
  // For the log only: what the command amounts to, with the values quoted for reading.
  const command = options.template.replace(
    /\{([A-Za-z_]+)\}/g,
    (whole, name: string) =>
      Object.hasOwn(values, name) ? shellQuote(values[name as "out"]) : whole,
  );
  options.log?.(`training ${task.name} ${shots}-shot seed ${seed}: ${command}`);
  const logFile = join(dir, "trainer.log");
  const status = await spawnTrainer(script, args, logFile);
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
    JSON.stringify({
      checkpoint,
      command,
      images: imageIds.length,
      ...(prepared ? { fewShotFiles: prepared } : { sampler: options.sampler }),
    }),
  );
  return checkpoint;
}

/**
 * Runs `sh -c SCRIPT sh ARGS... LOG` with stdout and stderr going to LOG (the last positional
 * parameter, so it is never spliced into the script either). A missing `--allow-run` is
 * reported with the flag to add.
 */
async function spawnTrainer(
  script: string,
  args: string[],
  logFile: string,
): Promise<Deno.CommandStatus> {
  const log = `"\${${args.length + 1}}"`;
  try {
    return await new Deno.Command("sh", {
      args: ["-c", `exec >${log} 2>&1\n${script}`, "sh", ...args, logFile],
      stdin: "null",
    }).spawn().status;
  } catch (error) {
    const advice = permissionAdvice(error, "bench");
    if (advice) {
      throw new UsageError(
        `--trainer runs its command with 'sh', which needs --allow-run=sh: ${advice}`,
      );
    }
    throw error;
  }
}
