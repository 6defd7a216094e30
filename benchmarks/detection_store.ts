/**
 * Detections streamed to disk as they are produced, one JSON line per image, so a run killed at
 * any point (even `kill -9`) resumes where it stopped and re-scoring never re-runs inference.
 *
 * A line is `{"image_id": 42, "detections": [[x, y, w, h, score, category_id], ...]}` with
 * boxes already in the suite's output convention. A torn last line (the process died mid-write)
 * is cut off on open; an image appears at most once.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";

/** One detection row: box (suite convention), score, category id. */
export type DetectionRow = [number, number, number, number, number, number];

/** Detections of one image. */
export interface ImageDetections {
  image_id: number;
  detections: DetectionRow[];
}

const encoder = new TextEncoder();

/**
 * What a run's detections file may hold: the image (or grounding entry) ids the run covers, and
 * the labels (category ids, or a grounding caption's phrase labels) each one's rows may carry.
 */
export interface DetectionExpectations {
  imageIds: ReadonlySet<number>;
  labelsOf(imageId: number): ReadonlySet<number>;
}

/** Checks one parsed line; returns the bad field and why, or undefined when it is good. */
function lineProblem(
  parsed: unknown,
  expect: DetectionExpectations | undefined,
): { field: string; problem: string; value: unknown } | undefined {
  const line = parsed as ImageDetections;
  if (
    line === null || typeof line !== "object" || typeof line.image_id !== "number" ||
    !Array.isArray(line.detections)
  ) {
    return { field: "(line)", problem: "expected {image_id, detections}", value: parsed };
  }
  if (expect && !expect.imageIds.has(line.image_id)) {
    return {
      field: "image_id",
      problem: "not an image of this run's split (after --shard and --limit)",
      value: line.image_id,
    };
  }
  const labels = expect?.labelsOf(line.image_id);
  for (const [r, row] of line.detections.entries()) {
    if (
      !Array.isArray(row) || row.length !== 6 ||
      !row.every((v) => typeof v === "number" && Number.isFinite(v))
    ) {
      return {
        field: `detections[${r}]`,
        problem: "expected [x, y, w, h, score, label] (six finite numbers)",
        value: row,
      };
    }
    if (labels && !labels.has(row[5])) {
      return {
        field: `detections[${r}][5]`,
        problem: `not a label of this task (${[...labels].slice(0, 12).join(", ")}${
          labels.size > 12 ? ", ..." : ""
        })`,
        value: row[5],
      };
    }
  }
  return undefined;
}

/**
 * Reads a detections file; returns the complete lines' images, and the byte length of the
 * complete part (where a torn last line starts). Every complete line must be a well-formed
 * image line (and, with `expect`, one of the run's images with its labels); a bad line is an
 * {@link InputError} naming `file:line` and the field.
 */
export async function readDetectionLines(
  path: string,
  expect?: DetectionExpectations,
): Promise<{ images: ImageDetections[]; completeBytes: number }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { images: [], completeBytes: 0 };
    throw error;
  }
  const lastNewline = bytes.lastIndexOf(10);
  const completeBytes = lastNewline + 1;
  const text = new TextDecoder().decode(bytes.subarray(0, completeBytes));
  const images: ImageDetections[] = [];
  const seen = new Set<number>();
  let lineNumber = 0;
  for (const line of text.split("\n")) {
    lineNumber++;
    if (line === "") continue;
    const at = `${path}:${lineNumber}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new InputError(`not valid JSON (${(error as Error).message})`, { file: at });
    }
    const problem = lineProblem(parsed, expect);
    if (problem) {
      throw new InputError(problem.problem, {
        file: at,
        field: problem.field,
        value: problem.value,
      });
    }
    const image = parsed as ImageDetections;
    if (seen.has(image.image_id)) {
      throw new InputError("image appears twice", {
        file: at,
        field: "image_id",
        value: image.image_id,
      });
    }
    seen.add(image.image_id);
    images.push(image);
  }
  return { images, completeBytes };
}

/** An append-only detections file opened for a (possibly resumed) run. */
export class DetectionStore {
  readonly #file: Deno.FsFile;
  readonly done: Set<number>;
  readonly path: string;

  private constructor(path: string, file: Deno.FsFile, done: Set<number>) {
    this.path = path;
    this.#file = file;
    this.done = done;
  }

  /**
   * Opens `path` for appending. With `resume`, complete lines are kept and a torn last line is
   * cut; without it, an existing file is an error (so finished work is never overwritten).
   * With `expect`, every kept line must be one of the run's images with its labels.
   */
  static async open(
    path: string,
    options: { resume: boolean; expect?: DetectionExpectations },
  ): Promise<DetectionStore> {
    const { images, completeBytes } = await readDetectionLines(path, options.expect);
    if (images.length > 0 && !options.resume) {
      throw new InputError(
        "holds detections from an earlier run; pass --resume to continue it or choose another --out",
        { file: path },
      );
    }
    const file = await Deno.open(path, { create: true, write: true, read: true });
    await file.truncate(completeBytes);
    await file.seek(completeBytes, Deno.SeekMode.Start);
    return new DetectionStore(path, file, new Set(images.map((image) => image.image_id)));
  }

  /** Appends one image's detections as a single line (one write call). */
  async append(imageId: number, detections: DetectionRow[]): Promise<void> {
    if (this.done.has(imageId)) {
      throw new Error(`image ${imageId} is already stored in ${this.path}`);
    }
    const line = JSON.stringify({ image_id: imageId, detections }) + "\n";
    const bytes = encoder.encode(line);
    let written = 0;
    while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
    this.done.add(imageId);
  }

  /** Flushes to disk and closes. */
  async close(): Promise<void> {
    await this.#file.syncData();
    this.#file.close();
  }
}
