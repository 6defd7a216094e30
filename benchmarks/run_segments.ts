/**
 * Timings of a run that may take several segments (a run killed and resumed): each segment's
 * wall time, images and per-stage samples are kept in the run folder's `timings.json` (temp file
 * + rename, refreshed while the segment runs), and the run record sums them over every segment.
 * A segment that stores no image (resuming a finished run) leaves the file as it was.
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import type { StageTiming } from "./run_record.ts";
import { peakRssBytes, StageTimer } from "./stage_timer.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";
import { readTextIfPresent } from "../core/fs.ts";
import { parseJsonText } from "../core/json.ts";

/** The file name inside a run folder. */
export const SEGMENTS_FILE = "timings.json";
const SCHEMA = "glip-bench/run-segments";

/** One segment as stored. */
export interface SegmentRecord {
  /** When the segment started (ISO 8601). */
  startedAt: string;
  /** Its wall time in seconds. */
  wallSeconds: number;
  /** Images it stored. */
  images: number;
  /** Its peak resident memory. */
  peakRssBytes: number;
  /** Per-stage samples in milliseconds. */
  samples: Record<string, number[]>;
}

/** Timings summed over every segment of a run. */
export interface SegmentTimings {
  /** How many segments. */
  segments: number;
  /** Its wall time in seconds. */
  wallSeconds: number;
  /** Images it stored. */
  images: number;
  /** The largest peak resident memory of any segment. */
  peakRssBytes: number;
  /** Latency per stage over every sample. */
  stages: Record<string, StageTiming>;
  /** Invocations per stage. */
  invocations: Record<string, number>;
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

function isDuration(value: unknown): boolean {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

function validateSegments(data: unknown, file: string): SegmentRecord[] {
  const fail = (field: string, problem: string, value: unknown): never => {
    throw new InputError(problem, { file, field, value });
  };
  const root = data as { schema?: unknown; segments?: unknown };
  if (root === null || typeof root !== "object" || root.schema !== SCHEMA) {
    fail("schema", `not a timings file (expected "${SCHEMA}")`, root?.schema);
  }
  if (!Array.isArray(root.segments)) fail("segments", "expected an array", root.segments);
  const segments = root.segments as SegmentRecord[];
  segments.forEach((s, i) => {
    const at = `segments[${i}]`;
    if (s === null || typeof s !== "object") fail(at, "expected an object", s);
    if (!isDuration(s.wallSeconds)) {
      fail(`${at}.wallSeconds`, "expected seconds >= 0", s.wallSeconds);
    }
    if (!isCount(s.images)) fail(`${at}.images`, "expected a count", s.images);
    if (!isCount(s.peakRssBytes)) fail(`${at}.peakRssBytes`, "expected a count", s.peakRssBytes);
    if (s.samples === null || typeof s.samples !== "object") {
      fail(`${at}.samples`, "expected an object", s.samples);
    }
    for (const [stage, values] of Object.entries(s.samples)) {
      if (!Array.isArray(values) || !values.every(isDuration)) {
        fail(`${at}.samples.${stage}`, "expected milliseconds >= 0", values);
      }
    }
  });
  return segments;
}

/** The segments of one run folder: the earlier ones from disk, and the one running now. */
export class RunSegments {
  /** Times the stages of the segment running now. */
  readonly timer: StageTimer = new StageTimer();
  readonly #file: string;
  readonly #earlier: SegmentRecord[];
  readonly #startedAt = new Date().toISOString();
  readonly #started = performance.now();
  #images = 0;
  #lastSave = performance.now();

  private constructor(file: string, earlier: SegmentRecord[]) {
    this.#file = file;
    this.#earlier = earlier;
  }

  /**
   * Opens the timings of run folder `dir`: with `resume`, the earlier segments are read (and
   * checked); without it the run starts with no earlier segment.
   */
  static async open(dir: string, options: { resume: boolean }): Promise<RunSegments> {
    const file = join(dir, SEGMENTS_FILE);
    if (!options.resume) return new RunSegments(file, []);
    return new RunSegments(file, await readSegments(dir) ?? []);
  }

  /** Images stored by the segment running now. */
  get images(): number {
    return this.#images;
  }

  /** Counts one stored image; refreshes the file at most every `everyMs`. */
  async imageStored(everyMs = 10_000): Promise<void> {
    this.#images++;
    if (performance.now() - this.#lastSave >= everyMs) await this.save();
  }

  /** Counts images stored without {@link imageStored} (the adapted cells). */
  countImages(images: number): void {
    this.#images += images;
  }

  #current(): SegmentRecord {
    return {
      startedAt: this.#startedAt,
      wallSeconds: (performance.now() - this.#started) / 1000,
      images: this.#images,
      peakRssBytes: peakRssBytes(),
      samples: this.timer.samples(),
    };
  }

  /** Writes every segment so far (temp file + rename). */
  async save(): Promise<void> {
    await this.#write(this.#current());
  }

  async #write(current: SegmentRecord): Promise<void> {
    this.#lastSave = performance.now();
    const data = { schema: SCHEMA, segments: [...this.#earlier, current] };
    await writeFileAtomic(this.#file, JSON.stringify(data) + "\n");
  }

  /**
   * Ends the segment running now: writes it, and returns the timings summed over every segment
   * (the same numbers the file holds).
   */
  async finish(): Promise<SegmentTimings> {
    const current = this.#current();
    await this.#write(current);
    return sumSegments([...this.#earlier, current]);
  }
}

/**
 * Reads and checks the segments stored in run folder `dir`; undefined when it has no timings
 * file.
 */
export async function readSegments(dir: string): Promise<SegmentRecord[] | undefined> {
  const file = join(dir, SEGMENTS_FILE);
  const text = await readTextIfPresent(file);
  if (text === undefined) return undefined;
  const data = parseJsonText(text, file);
  return validateSegments(data, file);
}

/** Writes `segments` as run folder `dir`'s timings file (temp file + rename). */
export async function writeSegments(dir: string, segments: SegmentRecord[]): Promise<void> {
  await writeFileAtomic(
    join(dir, SEGMENTS_FILE),
    JSON.stringify({ schema: SCHEMA, segments }) + "\n",
  );
}

/** Timings summed over `all` segments (stage percentiles over every sample). */
export function sumSegments(all: SegmentRecord[]): SegmentTimings {
  const timer = new StageTimer();
  for (const segment of all) {
    for (const [stage, values] of Object.entries(segment.samples)) {
      for (const ms of values) timer.record(stage, ms);
    }
  }
  return {
    segments: all.length,
    wallSeconds: all.reduce((sum, s) => sum + s.wallSeconds, 0),
    images: all.reduce((sum, s) => sum + s.images, 0),
    peakRssBytes: Math.max(...all.map((s) => s.peakRssBytes)),
    stages: timer.summary(),
    invocations: timer.counts(),
  };
}
