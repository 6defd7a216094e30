/**
 * Like-for-like comparison of a run with published GLIP numbers. A run gets a Δ only against a
 * published number whose every attribute matches the run: the model (recognised by the
 * checkpoint's sha256, else its official file name, else the user's `--reference KEY`), suite,
 * task (and for an average, the task set), split, prompt variant, protocol, shots and metric.
 * Demo, `--limit` and shard-subset runs get none. Every "no" comes with the reason, for the page.
 *
 * @module
 */
import { basename } from "node:path";
import type { ComparisonContext, RunRecord, TaskResult } from "../benchmarks/run_record.ts";
import { InputError, UsageError } from "../core/errors.ts";
import { unknownNameMessage } from "../core/did_you_mean.ts";
import { odinwTasks } from "../datasets/odinw.ts";
import {
  type Attribute,
  ODINW13_TASKS,
  ODINW_ZERO_SHOT_SPLIT,
  PUBLISHED_MODELS,
  PUBLISHED_NUMBERS,
  type PublishedNumber,
  RELEASED_CHECKPOINT_SHA256,
} from "./reference_numbers.ts";

export type { ComparisonContext };

/**
 * Checks a `bench --reference KEY` value: returns the key of a published model, or throws a
 * {@link UsageError} (exit 2) with "did you mean" and the known keys. For the bench command to
 * call while parsing its flags, before any inference.
 *
 * @example
 * ```ts
 * import { checkReferenceKey } from "./comparison.ts";
 * console.assert(checkReferenceKey("paper-glip-t") === "paper-glip-t");
 * ```
 */
export function checkReferenceKey(key: string): string {
  if (Object.hasOwn(PUBLISHED_MODELS, key)) return key;
  throw new UsageError(
    `bench: --reference: ${
      unknownNameMessage("published model", key, Object.keys(PUBLISHED_MODELS))
    }`,
  );
}

/**
 * Reads and checks the optional `comparison` field of a record. Throws an {@link InputError}
 * naming the file and field when it is present but malformed.
 */
export function readComparisonContext(record: RunRecord, file = "run.json"): ComparisonContext {
  const raw = (record as unknown as { comparison?: unknown }).comparison;
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new InputError("expected an object", { file, field: "comparison", value: raw });
  }
  const context: ComparisonContext = {};
  for (const key of ["checkpointFile", "reference"] as const) {
    const value = (raw as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length > 4096) {
      throw new InputError("expected a string of at most 4096 characters", {
        file,
        field: `comparison.${key}`,
        value,
      });
    }
    context[key] = value;
  }
  return context;
}

/** How a run's model was matched to a published model, or why it was not. */
export type Recognition =
  | { model: string; how: "sha256" | "file name" | "--reference"; detail: string }
  | { model?: undefined; why: string };

/**
 * Which published model a run's checkpoint is: by sha256 (when a digest is recorded in
 * {@link RELEASED_CHECKPOINT_SHA256}), else by its official file name, else by the user's
 * `--reference KEY`. A file with an official name whose digest differs from the recorded one is
 * not recognised.
 */
export function recogniseModel(
  record: RunRecord,
  context: ComparisonContext,
  digests: Readonly<Record<string, string | undefined>> = RELEASED_CHECKPOINT_SHA256,
): Recognition {
  const sha = record.model.checkpointSha256;
  const byFile = (file: string) =>
    Object.keys(PUBLISHED_MODELS).find((key) => PUBLISHED_MODELS[key].file === file);
  if (sha) {
    const file = Object.keys(digests).find((name) => digests[name] === sha);
    const model = file ? byFile(file) : undefined;
    if (model) {
      return { model, how: "sha256", detail: `the checkpoint's sha256 is that of ${file}` };
    }
  }
  if (context.checkpointFile) {
    const file = basename(context.checkpointFile);
    const model = byFile(file);
    if (model) {
      const expected = digests[file];
      if (expected && sha && expected !== sha) {
        return {
          why:
            `the checkpoint is named ${file} but its sha256 ${sha} is not the released file's (${expected})`,
        };
      }
      return {
        model,
        how: "file name",
        detail: `the checkpoint's file name is ${file}${
          expected
            ? ""
            : " (no sha256 of the released file is recorded, so only the name was checked)"
        }`,
      };
    }
  }
  if (context.reference) {
    if (Object.hasOwn(PUBLISHED_MODELS, context.reference)) {
      return {
        model: context.reference,
        how: "--reference",
        detail: `named by the user (--reference ${context.reference})`,
      };
    }
    return {
      why: `--reference ${context.reference} is not a published model (known: ${
        Object.keys(PUBLISHED_MODELS).join(", ")
      })`,
    };
  }
  const file = context.checkpointFile ? basename(context.checkpointFile) : undefined;
  return {
    why: file
      ? `the checkpoint ${file} is not a released GLIP checkpoint; name the published model with bench --reference KEY`
      : "the record does not name its checkpoint file and no --reference was given, so the model is not recognised",
  };
}

/** Why a whole run gets no published number (demo, --limit, shard), or undefined. */
export function runExclusion(record: RunRecord): string | undefined {
  if (record.model.demo || record.tasks.some((t) => t.dataset === "demo")) {
    return "a demo run (synthetic demo data)";
  }
  if (record.settings.limit) {
    return `a smoke run (--limit ${record.settings.limit}): only part of the images were scored`;
  }
  if (record.settings.shard) {
    return `one shard (${record.settings.shard}) of the images: merge the shards first`;
  }
  return undefined;
}

/** What the page asks a published number for. */
export interface ComparisonQuery {
  /** A task name, or "Average" for the mean over the run's tasks. */
  task: string;
  /** The metric name in the record (`AP`, `APr`, `R@1`, ...). */
  metric: string;
  /** For adaptation protocols: the shot count of the number. Absent: the zero-shot result. */
  shots?: number | "all";
}

/** A published number that matches a run, with the caveats to print beside its Δ. */
export interface Match {
  /** The published number whose every attribute matches the run. */
  published: PublishedNumber;
  /**
   * Attributes that are inferred rather than stated by the source, with their evidence, and the
   * number's notes: to print beside the Δ.
   */
  caveats: string[];
  /** How the run's model was recognised as the number's model. */
  recognition: Extract<Recognition, { model: string }>;
}

/** The answer for one query: a match, or the reason there is none. */
export type ComparisonResult = Match | { why: string };

/** The split a published ODinW zero-shot number was measured on, for a task of the suite. */
export function odinwZeroShotSplit(task: string): string | undefined {
  return odinwTasks("odinw35").find((t) => t.name === task)?.zeroShotSplit;
}

function protocolOf(record: RunRecord, query: ComparisonQuery): string {
  return query.shots === undefined || query.shots === 0 ? "zero-shot" : record.protocol;
}

/** The run's split(s) for a query: one task's, or every task's for an average. */
function runSplits(record: RunRecord, query: ComparisonQuery): TaskResult[] {
  return query.task === "Average"
    ? record.tasks
    : record.tasks.filter((t) => t.name === query.task);
}

/** Whether the run's tasks are exactly the set an average is published for. */
function taskSetMismatch(record: RunRecord, published: PublishedNumber): string | undefined {
  if (published.task !== "Average") return undefined;
  for (const task of record.tasks) {
    const scored = published.shots === undefined
      ? (task.result?.headline ?? -1) >= 0
      : (task.cells ?? []).some((c) => c.shots === published.shots && c.test.headline >= 0);
    if (!scored) {
      return `the run's task ${task.name} has no defined result${
        published.shots === undefined ? "" : ` at ${published.shots} shot(s)`
      }, so its mean is over fewer tasks`;
    }
  }
  if (published.taskSet === "odinw13") {
    const names = new Set(record.tasks.map((t) => t.name));
    const exact = names.size === ODINW13_TASKS.length &&
      ODINW13_TASKS.every((name) => names.has(name));
    if (!exact) {
      return `the published number averages the 13 ODinW-13 tasks; this run's mean is over ${record.tasks.length} task(s) (${
        record.tasks.length === 35 ? "ODinW-35" : "another set"
      })`;
    }
  }
  return undefined;
}

function attributeMismatch<T>(
  name: string,
  attribute: Attribute<T> | undefined,
  runValue: T | undefined,
): { why?: string; caveat?: string } {
  if (!attribute) return {};
  if (attribute.basis === "unknown") {
    return { why: `its ${name} is not known: ${attribute.evidence}` };
  }
  if (runValue !== attribute.value) {
    return {
      why: `it was measured with ${name} ${attribute.value}; this run used ${
        runValue ?? "(none recorded)"
      }`,
    };
  }
  return attribute.basis === "inferred" ? { caveat: `${name}: ${attribute.evidence}` } : {};
}

function splitMismatch(
  record: RunRecord,
  query: ComparisonQuery,
  published: PublishedNumber,
): { why?: string; caveat?: string } {
  const split = published.split;
  if (split.basis === "unknown") return { why: `its split is not known: ${split.evidence}` };
  const tasks = runSplits(record, query);
  for (const task of tasks) {
    const expected = split.value === ODINW_ZERO_SHOT_SPLIT
      ? odinwZeroShotSplit(task.name)
      : split.value;
    if (task.split !== expected) {
      return {
        why: `it was measured on the ${
          expected ?? "unknown"
        } split of ${task.name}; this run scored ${task.split}`,
      };
    }
  }
  return split.basis === "inferred" ? { caveat: `split: ${split.evidence}` } : {};
}

/**
 * The published number a run's result may be compared with, or why there is none. Candidates
 * are the numbers of the recognised model for the same suite, task, metric, protocol and shots;
 * one whose split, prompt variant and task set also match (or are inferred to match) is the match.
 */
export function comparePublished(
  record: RunRecord,
  query: ComparisonQuery,
  context: ComparisonContext = readComparisonContext(record),
  options: { digests?: Readonly<Record<string, string | undefined>> } = {},
): ComparisonResult {
  const excluded = runExclusion(record);
  if (excluded) return { why: excluded };
  if (
    record.suite === "flickr30k" &&
    (record.taskSpecs ?? []).some((spec) =>
      (spec as { grounding?: { merged?: unknown } })?.grounding?.merged === true
    )
  ) {
    return {
      why: "the run scored MERGED boxes; GLIP's Flickr30K numbers are ANY-BOX (MDETR's protocol)",
    };
  }
  const recognition = recogniseModel(record, context, options.digests);
  if (recognition.model === undefined) return { why: recognition.why };
  const model = PUBLISHED_MODELS[recognition.model];
  const protocol = protocolOf(record, query);
  const shots = query.shots === 0 ? undefined : query.shots;
  const candidates = PUBLISHED_NUMBERS.filter((n) =>
    n.model === recognition.model && n.suite === record.suite && n.task === query.task &&
    n.metric === query.metric && n.shots === shots &&
    (n.protocol.basis === "unknown" ? false : n.protocol.value === protocol)
  );
  if (candidates.length === 0) {
    const what = `${query.metric} of ${record.suite} ${query.task}, ${protocol}${
      shots !== undefined ? `, ${shots} shot(s)` : ""
    }`;
    return {
      why: `${model.label} (${recognition.detail}) has no published ${what}${
        model.kind === "released" && hasPaperNumber(recognition.model, record.suite, query)
          ? `; the paper's number is for its own model (best pre-training checkpoint), not this released checkpoint`
          : ""
      }`,
    };
  }
  const reasons: string[] = [];
  for (const published of candidates) {
    const checks = [
      { why: taskSetMismatch(record, published) },
      splitMismatch(record, query, published),
      attributeMismatch("prompt variant", published.prompt, record.settings.promptVariant),
      attributeMismatch("protocol", published.protocol, protocol),
    ];
    const failed = checks.find((c) => c.why);
    if (failed) {
      reasons.push(`${published.value.toFixed(1)} (${published.source}): ${failed.why}`);
      continue;
    }
    return {
      published,
      recognition,
      caveats: [
        ...checks.flatMap((c) => (c.caveat ? [c.caveat] : [])),
        ...(published.notes ?? []),
      ],
    };
  }
  return { why: `published ${model.label} ${reasons.join("; ")}` };
}

function hasPaperNumber(model: string, suite: string, query: ComparisonQuery): boolean {
  const paper = `paper-${model.replace(/-lvisbest$/, "")}`;
  return PUBLISHED_NUMBERS.some((n) =>
    n.model === paper && n.suite === suite && n.task === query.task && n.metric === query.metric
  );
}

/** Whether a comparison found a published number. */
export function isMatch(result: ComparisonResult): result is Match {
  return "published" in result;
}
