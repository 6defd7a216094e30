/**
 * "Did you mean ...?" suggestions for unknown names.
 * @module
 */

/** Levenshtein edit distance between two strings (case-insensitive). */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The candidates closest to `name`: those within an edit distance of a third of the
 * name's length (at least 2), or that contain it / are contained in it; best first.
 *
 * @example
 * ```ts
 * import { suggest } from "./did_you_mean.ts";
 * console.assert(suggest("odnw", ["odinw", "coco", "lvis"])[0] === "odinw");
 * ```
 */
export function suggest(name: string, candidates: readonly string[]): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  const lower = name.toLowerCase();
  return candidates
    .map((candidate) => ({ candidate, distance: editDistance(name, candidate) }))
    .filter(({ candidate, distance }) =>
      distance <= limit ||
      (lower.length >= 3 && candidate.toLowerCase().includes(lower)) ||
      (candidate.length >= 3 && lower.includes(candidate.toLowerCase()))
    )
    .sort((x, y) => x.distance - y.distance || x.candidate.localeCompare(y.candidate))
    .map(({ candidate }) => candidate);
}

/**
 * A message for an unknown name: `Unknown engine 'onx'. Did you mean 'onnx'? Available: ...`.
 */
export function unknownNameMessage(
  kind: string,
  name: string,
  candidates: readonly string[],
): string {
  const close = suggest(name, candidates);
  const hint = close.length > 0 ? ` Did you mean ${close.map((c) => `'${c}'`).join(" or ")}?` : "";
  const available = candidates.length > 0 ? candidates.join(", ") : "(none registered)";
  return `Unknown ${kind} '${name}'.${hint} Available: ${available}.`;
}
