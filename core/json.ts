/**
 * JSON from files someone else wrote: nesting is bounded before parsing, so that a deeply
 * nested value gives an error naming the file and the offset instead of "Maximum call stack
 * size exceeded" in whatever code walks it later.
 *
 * @module
 */
import { InputError } from "./errors.ts";

/** The deepest nesting {@link parseJsonText} accepts (COCO polygons need 4). */
export const MAX_JSON_DEPTH = 64;

/**
 * The first place where `text` nests arrays/objects deeper than `maxDepth`, or undefined.
 * Strings are skipped (brackets inside them do not count). Linear in the text, no recursion.
 */
export function findDeepNesting(
  text: string,
  maxDepth = MAX_JSON_DEPTH,
): { offset: number; depth: number } | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return { offset: i, depth };
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/**
 * `JSON.parse` for untrusted text: nesting deeper than `maxDepth` is an {@link InputError}
 * naming the file and offset; a syntax error names the file and its message.
 *
 * @example
 * ```ts
 * import { parseJsonText } from "./json.ts";
 * console.assert((parseJsonText('{"a": [1]}', "a.json") as { a: number[] }).a[0] === 1);
 * let refused = false;
 * try {
 *   parseJsonText("[".repeat(100) + "]".repeat(100), "deep.json");
 * } catch {
 *   refused = true;
 * }
 * console.assert(refused);
 * ```
 */
export function parseJsonText(text: string, file: string, maxDepth = MAX_JSON_DEPTH): unknown {
  const deep = findDeepNesting(text, maxDepth);
  if (deep) {
    throw new InputError(
      `not valid JSON: ${
        locateJsonError(text, `nested deeper than ${maxDepth} levels at position ${deep.offset}`)
      }`,
      { file },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(`not valid JSON: ${locateJsonError(text, (error as Error).message)}`, {
      file,
    });
  }
}

/** Adds the line and column to a message that names a character position. */
function locateJsonError(text: string, message: string): string {
  const position = /position (\d+)/.exec(message);
  if (!position) return message;
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${message} (line ${line}, column ${column})`;
}
