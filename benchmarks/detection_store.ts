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
 * Reads a detections file; returns the complete lines' images, and the byte length of the
 * complete part (where a torn last line starts).
 */
export async function readDetectionLines(
  path: string,
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
    let parsed: ImageDetections;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new InputError(`line ${lineNumber} is not valid JSON (${(error as Error).message})`, {
        file: path,
      });
    }
    if (typeof parsed.image_id !== "number" || !Array.isArray(parsed.detections)) {
      throw new InputError("expected {image_id, detections}", {
        file: path,
        field: `line ${lineNumber}`,
        value: line.slice(0, 80),
      });
    }
    if (seen.has(parsed.image_id)) {
      throw new InputError("image appears twice", {
        file: path,
        field: `line ${lineNumber}.image_id`,
        value: parsed.image_id,
      });
    }
    seen.add(parsed.image_id);
    images.push(parsed);
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
   */
  static async open(path: string, options: { resume: boolean }): Promise<DetectionStore> {
    const { images, completeBytes } = await readDetectionLines(path);
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
