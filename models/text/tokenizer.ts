/**
 * The bert-base-uncased tokenizer, identical to the Hugging Face fast tokenizer GLIP uses:
 * text cleaning, CJK splitting, accent stripping (NFD, combining marks removed), lowercasing,
 * whitespace and punctuation splitting, WordPiece greedy longest match with `##` continuations
 * and `[UNK]` for words over 100 characters, `[CLS]`/`[SEP]`, padding and truncation.
 *
 * Character offsets are counted in Unicode code points, as Python counts them, so
 * `charToToken` and GLIP's `tokens_positive` spans agree for any text.
 *
 * @module
 */

/** The result of encoding one text. */
export interface Encoding {
  /** Word pieces without special tokens. */
  tokens: string[];
  /** `[CLS] tokens [SEP]` ids, padded with `[PAD]` (0) when asked. */
  inputIds: Int32Array;
  /** 1 for real tokens (special tokens included), 0 for padding. */
  attentionMask: Int32Array;
  /** Token index (in inputIds) of each code point of the text; null for whitespace and removed characters. */
  charToToken: (number | null)[];
  /** Code-point span [start, end) of each token in inputIds; null for special and padding tokens. */
  tokenToChars: ([number, number] | null)[];
  /** Number of real tokens, special tokens included (the length without padding). */
  length: number;
}

/** Options of {@link BertTokenizer.encode}. */
export interface EncodeOptions {
  /** Truncate to this many tokens, special tokens included. @default 256 */
  maxLength?: number;
  /** Pad with `[PAD]` up to maxLength. @default false */
  padToMaxLength?: boolean;
}

const MAX_WORD_CHARS = 100;

function isWhitespace(cp: number): boolean {
  if (cp === 0x20 || cp === 0x09 || cp === 0x0a || cp === 0x0d) return true;
  return /\p{White_Space}/u.test(String.fromCodePoint(cp));
}

function isControl(cp: number): boolean {
  if (cp === 0x09 || cp === 0x0a || cp === 0x0d) return false;
  return /\p{C}/u.test(String.fromCodePoint(cp));
}

function isPunctuation(cp: number): boolean {
  if (
    (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126)
  ) return true;
  return /\p{P}/u.test(String.fromCodePoint(cp));
}

function isChineseChar(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

const COMBINING_MARK = /\p{Mn}/u;

/** A word after pre-tokenization: its normalized characters and their source code points. */
interface Word {
  chars: string[];
  origins: number[];
}

/**
 * Normalizes the text (clean, CJK padding, strip accents, lowercase) and splits it into words
 * on whitespace and punctuation, keeping each character's original code-point index.
 */
function preTokenize(codePoints: number[]): Word[] {
  const words: Word[] = [];
  let current: Word | null = null;
  const flush = () => {
    if (current && current.chars.length > 0) words.push(current);
    current = null;
  };
  const push = (char: string, origin: number) => {
    if (!current) current = { chars: [], origins: [] };
    current.chars.push(char);
    current.origins.push(origin);
  };
  for (let index = 0; index < codePoints.length; index++) {
    const cp = codePoints[index];
    if (cp === 0 || cp === 0xfffd || isControl(cp)) continue;
    if (isWhitespace(cp)) {
      flush();
      continue;
    }
    if (isChineseChar(cp)) {
      flush();
      push(String.fromCodePoint(cp), index);
      flush();
      continue;
    }
    // strip accents (NFD, drop nonspacing marks), then lowercase: the fast tokenizer's order
    for (const decomposed of String.fromCodePoint(cp).normalize("NFD")) {
      if (COMBINING_MARK.test(decomposed)) continue;
      for (const lowered of decomposed.toLowerCase()) {
        const lcp = lowered.codePointAt(0)!;
        if (isWhitespace(lcp)) {
          flush();
        } else if (isPunctuation(lcp)) {
          flush();
          push(lowered, index);
          flush();
        } else {
          push(lowered, index);
        }
      }
    }
  }
  flush();
  return words;
}

/**
 * A WordPiece tokenizer over a BERT vocabulary.
 *
 * @example
 * ```ts
 * import { loadBertTokenizer } from "./tokenizer.ts";
 * const tokenizer = await loadBertTokenizer();
 * const encoding = tokenizer.encode("boat. jetski");
 * console.assert(encoding.tokens.join(" ") === "boat . jets ##ki");
 * console.assert(encoding.inputIds[0] === 101 && encoding.charToToken[6] === 3);
 * ```
 */
export class BertTokenizer {
  readonly #vocab: Map<string, number>;
  readonly #unkId: number;
  /** Id of `[CLS]`. */
  readonly clsId: number;
  /** Id of `[SEP]`. */
  readonly sepId: number;
  /** Id of `[PAD]`. */
  readonly padId: number;

  /** Creates a tokenizer over a vocabulary (one token per id, in id order). */
  constructor(vocabulary: string[]) {
    this.#vocab = new Map(vocabulary.map((token, id) => [token, id]));
    const id = (token: string) => {
      const value = this.#vocab.get(token);
      if (value === undefined) throw new TypeError(`The vocabulary has no ${token} token`);
      return value;
    };
    this.#unkId = id("[UNK]");
    this.clsId = id("[CLS]");
    this.sepId = id("[SEP]");
    this.padId = id("[PAD]");
  }

  /** Vocabulary size. */
  get size(): number {
    return this.#vocab.size;
  }

  /** The id of a token, or undefined. */
  tokenId(token: string): number | undefined {
    return this.#vocab.get(token);
  }

  /** Splits a word into word pieces with their [start, end) offsets within the word. */
  #wordPieces(word: Word): { piece: string; id: number; start: number; end: number }[] {
    const length = word.chars.length;
    if (length > MAX_WORD_CHARS) {
      return [{ piece: "[UNK]", id: this.#unkId, start: 0, end: length }];
    }
    const pieces = [];
    let start = 0;
    while (start < length) {
      let end = length;
      let found: { piece: string; id: number } | undefined;
      while (start < end) {
        const text = (start > 0 ? "##" : "") + word.chars.slice(start, end).join("");
        const id = this.#vocab.get(text);
        if (id !== undefined) {
          found = { piece: text, id };
          break;
        }
        end--;
      }
      if (!found) return [{ piece: "[UNK]", id: this.#unkId, start: 0, end: length }];
      pieces.push({ ...found, start, end });
      start = end;
    }
    return pieces;
  }

  /** Encodes one text. */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const maxLength = options.maxLength ?? 256;
    const codePoints = Array.from(text, (c) => c.codePointAt(0)!);
    const tokens: string[] = [];
    const ids: number[] = [this.clsId];
    const spans: ([number, number] | null)[] = [null];
    const charToToken: (number | null)[] = new Array(codePoints.length).fill(null);
    const capacity = maxLength - 2;
    outer: for (const word of preTokenize(codePoints)) {
      for (const piece of this.#wordPieces(word)) {
        if (tokens.length >= capacity) break outer;
        const tokenIndex = ids.length;
        const first = word.origins[piece.start];
        const last = word.origins[piece.end - 1];
        for (let k = piece.start; k < piece.end; k++) charToToken[word.origins[k]] = tokenIndex;
        tokens.push(piece.piece);
        ids.push(piece.id);
        spans.push([first, last + 1]);
      }
    }
    ids.push(this.sepId);
    spans.push(null);
    const length = ids.length;
    const total = options.padToMaxLength ? Math.max(maxLength, length) : length;
    const inputIds = new Int32Array(total).fill(this.padId);
    inputIds.set(ids);
    const attentionMask = new Int32Array(total);
    attentionMask.fill(1, 0, length);
    while (spans.length < total) spans.push(null);
    return { tokens, inputIds, attentionMask, charToToken, tokenToChars: spans, length };
  }
}

const DEFAULT_VOCAB = new URL("./bert-base-uncased-vocab.txt", import.meta.url);
const cache = new Map<string, Promise<BertTokenizer>>();

/**
 * Loads a tokenizer from a `vocab.txt` (one token per line); by default the bert-base-uncased
 * vocabulary shipped with the project. Cached per path.
 */
export function loadBertTokenizer(vocabPath?: string | URL): Promise<BertTokenizer> {
  const source = vocabPath ?? DEFAULT_VOCAB;
  const key = String(source);
  let loaded = cache.get(key);
  if (!loaded) {
    loaded = Deno.readTextFile(source).then((text) => {
      const lines = text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      return new BertTokenizer(lines.map((line) => line.replace(/\r$/, "")));
    });
    cache.set(key, loaded);
  }
  return loaded;
}
