/**
 * Error classes that carry their meaning to the CLI's exit code.
 *
 * - {@link UsageError}: the user asked for something invalid (bad flag, unknown name): exit 2.
 * - {@link InputError}: an input file is malformed; the message names file, field and value: exit 1.
 * - {@link GateError}: a comparison gate (`--fail-below`, `--max-regression`) failed: exit 3.
 * - Anything else is a failed run: exit 1.
 *
 * @module
 */

/** The command line or configuration asks for something invalid. Exit code 2. */
export class UsageError extends Error {
  /** The error's name. */
  override name = "UsageError";
}

/** A comparison gate failed (report `--fail-below`, `--max-regression`). Exit code 3. */
export class GateError extends Error {
  /** The error's name. */
  override name = "GateError";
}

/** Where in an input file a problem was found. */
export interface InputLocation {
  /** The file (path or description) that holds the bad value. */
  file: string;
  /** A JSON-path-like field name, e.g. `annotations[12].bbox`. */
  field?: string;
  /** The offending value, shown with `JSON.stringify` (truncated). */
  value?: unknown;
}

/** Formats a value for an error message, truncating long values. */
export function showValue(value: unknown, max = 120): string {
  let text: string;
  try {
    text = typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * An input file holds a malformed or inconsistent value. Exit code 1.
 *
 * @example
 * ```ts
 * import { InputError } from "./errors.ts";
 * const error = new InputError("bbox width must be >= 0", {
 *   file: "gt.json",
 *   field: "annotations[3].bbox",
 *   value: [0, 0, -1, 2],
 * });
 * console.assert(error.message.includes("annotations[3].bbox"));
 * ```
 */
export class InputError extends Error {
  /** The error's name. */
  override name = "InputError";
  /** The file, field and value the problem was found at. */
  readonly location: InputLocation;
  /**
   * Creates the error; its message is `file: field: problem (got value)`.
   *
   * @param problem What is wrong, in words.
   * @param location Where: the file, the field and the offending value.
   * @param options The standard error options (`cause`).
   */
  constructor(problem: string, location: InputLocation, options?: ErrorOptions) {
    const where = location.field ? `${location.file}: ${location.field}` : location.file;
    const value = "value" in location ? ` (got ${showValue(location.value)})` : "";
    super(`${where}: ${problem}${value}`, options);
    this.location = location;
  }
}

/** The exit code the CLI uses for an error. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return 2;
  if (error instanceof GateError) return 3;
  return 1;
}
