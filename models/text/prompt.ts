/**
 * GLIP's prompt construction, byte-identical to `create_queries_and_maps` and
 * `create_positive_dict` (maskrcnn_benchmark/engine/inference.py): category names are cleaned,
 * joined with a separator (". " in every GLIP config), optionally wrapped by caption prompts,
 * tokenized, and each label is mapped to the tokens of its name.
 *
 * @module
 */
import type { BertTokenizer, Encoding } from "./tokenizer.ts";

/** A caption-prompt entry: text before and after a name, and the name itself (used raw). */
export interface CaptionPrompt {
  /** Text before the name. */
  prefix: string;
  /** The name, used as written (not cleaned). */
  name: string;
  /** Text after the name. */
  suffix: string;
}

/** One prompt as sent to the model, with its label-to-token map. */
export interface PromptChunk {
  /** The exact query string. */
  query: string;
  /** Labels of this chunk, in order. */
  labels: number[];
  /** Character span(s) of each label's name in the query (code points). */
  tokensPositive: [number, number][][];
  /** The tokenizer's output, padded to the max query length. */
  encoding: Encoding;
  /** Token indices (in the padded encoding, [CLS] = 0) of each label. */
  positiveMapLabelToToken: Map<number, number[]>;
  /**
   * Labels whose names map to no token: left out of the positive map (GLIP drops them silently),
   * so post-processing never emits them.
   */
  droppedLabels: number[];
  /** Human-readable warnings (one per dropped label). */
  warnings: string[];
}

/** Options of {@link buildPrompt}. */
export interface PromptOptions {
  /** Between names. @default ". " */
  separator?: string;
  /** Caption prompts by label position (GLIP `DATASETS.CAPTION_PROMPT`). */
  captionPrompt?: CaptionPrompt[];
  /** Labels of the names. @default 1..names.length */
  labels?: number[];
  /** Max query length in tokens. @default 256 */
  maxLength?: number;
}

/**
 * GLIP's `clean_name`: removes the greedy `(...)` span, turns `_` into spaces, then replaces
 * each pair of spaces with one, in a single pass.
 *
 * @example
 * ```ts
 * import { cleanName } from "./prompt.ts";
 * console.assert(cleanName("bow_(weapon)") === "bow ");
 * console.assert(cleanName("aerosol_can") === "aerosol can");
 * ```
 */
export function cleanName(name: string): string {
  return name.replace(/\(.*\)/g, "").replace(/_/g, " ").replace(/ {2}/g, " ");
}

/** Length in code points (Python's len). */
function codePointLength(text: string): number {
  let length = 0;
  for (const _ of text) length++;
  return length;
}

/**
 * Builds one prompt from category names, exactly as GLIP's `create_queries_and_maps`.
 * Names are cleaned; caption-prompt names replace them and are used as given.
 *
 * @example Two names, joined by GLIP's separator; each label maps to its name's tokens
 * ```ts
 * import { buildPrompt } from "./prompt.ts";
 * import { loadBertTokenizer } from "./tokenizer.ts";
 * import assert from "node:assert/strict";
 *
 * const prompt = buildPrompt(await loadBertTokenizer(), ["fish", "stingray"]);
 * assert.equal(prompt.query, "fish. stingray");
 * assert.deepEqual(prompt.positiveMapLabelToToken.get(1), [1]); // [CLS] fish . sting ##ray
 * assert.deepEqual(prompt.positiveMapLabelToToken.get(2), [3, 4]);
 * ```
 */
export function buildPrompt(
  tokenizer: BertTokenizer,
  names: string[],
  options: PromptOptions = {},
): PromptChunk {
  const separator = options.separator ?? ". ";
  const labels = options.labels ?? names.map((_, i) => i + 1);
  if (labels.length !== names.length) {
    throw new RangeError(`buildPrompt: ${names.length} names but ${labels.length} labels`);
  }
  const caption = options.captionPrompt;
  if (caption && caption.length < names.length) {
    throw new RangeError(
      `buildPrompt: the caption prompt has ${caption.length} entries for ${names.length} names`,
    );
  }
  let query = "";
  const tokensPositive: [number, number][][] = [];
  names.forEach((name, index) => {
    if (caption) query += caption[index].prefix;
    const start = codePointLength(query);
    query += caption ? caption[index].name : cleanName(name);
    const end = codePointLength(query);
    tokensPositive.push([[start, end]]);
    if (caption) query += caption[index].suffix;
    if (index !== names.length - 1) query += separator;
  });
  const encoding = tokenizer.encode(query, {
    maxLength: options.maxLength ?? 256,
    padToMaxLength: true,
  });
  const { map, dropped } = positiveMap(encoding, tokensPositive, labels);
  const warnings = dropped.map((label) => {
    const name = names[labels.indexOf(label)];
    return `label ${label} (${JSON.stringify(name)}) maps to no token in ${
      JSON.stringify(query.length > 80 ? query.slice(0, 80) + "…" : query)
    }: it is left out of the positive map and never detected, as in GLIP`;
  });
  return {
    query,
    labels,
    tokensPositive,
    encoding,
    positiveMapLabelToToken: map,
    droppedLabels: dropped,
    warnings,
  };
}

/**
 * How the spans of one label combine. GLIP's detection prompts (`create_positive_dict`) keep
 * only the last span's tokens; grounding captions (`create_positive_map`, Flickr30K) mark the
 * union of all spans.
 */
export type SpanCombination = "last" | "union";

/**
 * GLIP's `create_positive_dict` (`"last"`) or `create_positive_map` (`"union"`): the first token
 * of a span is `char_to_token(beg)`, falling back to beg+1 then beg+2; the last is
 * `char_to_token(end-1)`, falling back to end-2 then end-3; a span with no token is skipped,
 * and so is a span whose fallbacks cross (its first token after its last, as for a name of one
 * space between two separators: GLIP's `range(beg_pos, end_pos + 1)` is then empty). A label
 * that gets no token is left out of the map and listed in `dropped`, as GLIP's
 * `defaultdict(list)` only holds labels it appended a token to.
 */
export function positiveMap(
  encoding: Encoding,
  tokensPositive: [number, number][][],
  labels: number[],
  combination: SpanCombination = "last",
): { map: Map<number, number[]>; dropped: number[] } {
  const at = (index: number): number | null =>
    index >= 0 && index < encoding.charToToken.length ? encoding.charToToken[index] : null;
  const map = new Map<number, number[]>();
  const dropped: number[] = [];
  tokensPositive.forEach((spans, j) => {
    const marked = new Set<number>();
    for (const [beg, end] of spans) {
      const first = at(beg) ?? at(beg + 1) ?? at(beg + 2);
      const last = at(end - 1) ?? at(end - 2) ?? at(end - 3);
      if (first === null || last === null || first > last) continue;
      if (combination === "last") marked.clear();
      for (let i = first; i <= last; i++) marked.add(i);
    }
    if (marked.size > 0) map.set(labels[j], [...marked].sort((a, b) => a - b));
    else dropped.push(labels[j]);
  });
  return { map, dropped };
}

/**
 * Splits names into consecutive chunks of `chunkSize` (GLIP `TEST.CHUNKED_EVALUATION`; LVIS
 * uses 40) and builds one prompt per chunk. As in GLIP, caption prompts are indexed by the
 * position within the chunk.
 */
export function buildChunkedPrompts(
  tokenizer: BertTokenizer,
  names: string[],
  options: PromptOptions & { chunkSize?: number } = {},
): PromptChunk[] {
  const labels = options.labels ?? names.map((_, i) => i + 1);
  const size = options.chunkSize && options.chunkSize > 0 ? options.chunkSize : names.length;
  const chunks: PromptChunk[] = [];
  for (let start = 0; start < names.length; start += size) {
    chunks.push(buildPrompt(tokenizer, names.slice(start, start + size), {
      ...options,
      labels: labels.slice(start, start + size),
    }));
  }
  return chunks;
}

/**
 * A prompt for a raw caption (Flickr30K uses whole sentences, uncleaned): the caption as the
 * query, and one label per phrase (label = phrase index + 1, GLIP's `plus = 1`) mapped to the
 * union of its spans' tokens, as GLIP's `create_positive_map` marks them.
 */
export function buildCaptionPrompt(
  tokenizer: BertTokenizer,
  caption: string,
  phraseSpans: [number, number][][],
  options: { maxLength?: number } = {},
): PromptChunk {
  const labels = phraseSpans.map((_, i) => i + 1);
  const encoding = tokenizer.encode(caption, {
    maxLength: options.maxLength ?? 256,
    padToMaxLength: true,
  });
  const { map, dropped } = positiveMap(encoding, phraseSpans, labels, "union");
  return {
    query: caption,
    labels,
    tokensPositive: phraseSpans,
    encoding,
    positiveMapLabelToToken: map,
    droppedLabels: dropped,
    warnings: dropped.map((label) => `phrase ${label} maps to no token`),
  };
}

/** sha256 (hex) of a prompt's query and label-to-token map: identifies it in run records. */
export async function promptHash(chunk: PromptChunk): Promise<string> {
  const canonical = JSON.stringify({
    query: chunk.query,
    map: [...chunk.positiveMapLabelToToken].sort((a, b) => a[0] - b[0]),
  });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
