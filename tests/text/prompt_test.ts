import { assertEquals } from "../assert.ts";
import { FIXTURES, runCli } from "../cli_helpers.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";
import {
  buildCaptionPrompt,
  buildPrompt,
  cleanName,
  positiveMap,
} from "../../models/text/prompt.ts";

interface PromptCase {
  suite: string;
  labels: number[];
  names: string[];
  captionPrompt: { prefix: string; name: string; suffix: string }[] | null;
  separator: string;
  query: string;
  tokensPositive: [number, number][];
  tokens: string[];
  inputIds: number[];
  charToToken: (number | null)[];
  positiveMapLabelToToken: Record<string, number[]>;
}

const cases: PromptCase[] = JSON.parse(
  await Deno.readTextFile(new URL("oracles/text/prompts.json", FIXTURES)),
);
const tokenizer = await loadBertTokenizer();

for (const oracle of cases) {
  Deno.test(`buildPrompt() reproduces GLIP's query and positive map for ${oracle.suite}`, () => {
    const chunk = buildPrompt(tokenizer, oracle.names, {
      labels: oracle.labels,
      separator: oracle.separator,
      captionPrompt: oracle.captionPrompt ?? undefined,
    });
    assertEquals(chunk.query, oracle.query);
    assertEquals(chunk.tokensPositive.map((spans) => spans[0]), oracle.tokensPositive);
    assertEquals(chunk.encoding.tokens, oracle.tokens);
    assertEquals([...chunk.encoding.inputIds.subarray(0, chunk.encoding.length)], oracle.inputIds);
    assertEquals(chunk.encoding.charToToken, oracle.charToToken);
    const map = Object.fromEntries(
      [...chunk.positiveMapLabelToToken].map(([label, tokens]) => [String(label), tokens]),
    );
    assertEquals(map, oracle.positiveMapLabelToToken);
  });
}

Deno.test("cleanName() removes the greedy parenthesis span and one pass of double spaces", () => {
  assertEquals(cleanName("bow_(weapon)"), "bow ");
  assertEquals(cleanName("a_(b)_c_(d)"), "a ");
  assertEquals(cleanName("x___y"), "x  y");
});

Deno.test("buildPrompt() drops a label whose name maps to no token and warns", () => {
  const chunk = buildPrompt(tokenizer, ["cat", "   ", "dog"]);
  assertEquals(chunk.droppedLabels, [2]);
  assertEquals(chunk.positiveMapLabelToToken.has(2), false);
  assertEquals(chunk.warnings.length, 1);
});

Deno.test("buildPrompt() pads the encoding to 256 with an attention mask", () => {
  const chunk = buildPrompt(tokenizer, ["fish", "shark"]);
  assertEquals(chunk.encoding.inputIds.length, 256);
  assertEquals(chunk.encoding.attentionMask.reduce((a, b) => a + b, 0), chunk.encoding.length);
});

Deno.test("positiveMap() keeps the last span of a detection label and the union for a caption phrase", () => {
  const caption = "a dog and a cat near a dog";
  const spans: [number, number][][] = [[[2, 5], [23, 26]], [[12, 15]]];
  const chunk = buildCaptionPrompt(tokenizer, caption, spans);
  // [CLS]=0, a=1, dog=2, and=3, a=4, cat=5, near=6, a=7, dog=8
  assertEquals(chunk.positiveMapLabelToToken.get(1), [2, 8]);
  assertEquals(chunk.positiveMapLabelToToken.get(2), [5]);
  const detection = positiveMap(chunk.encoding, spans, [1, 2], "last");
  assertEquals(detection.map.get(1), [8]);
});

Deno.test("buildCaptionPrompt() drops a phrase whose spans find no token, labels stay phrase index + 1", () => {
  const chunk = buildCaptionPrompt(tokenizer, "two dogs", [[[40, 44]], [[4, 8]]]);
  assertEquals(chunk.labels, [1, 2]);
  assertEquals(chunk.droppedLabels, [1]);
  assertEquals(chunk.positiveMapLabelToToken.get(2), [2]);
});

Deno.test("buildPrompt() leaves out a label whose fallbacks cross (a one-space name), as GLIP does", () => {
  // "cat.  . dog": the name " " at [5, 6); char_to_token falls forward to the second "." and
  // back to the first, so GLIP's range(beg_pos, end_pos + 1) is empty and the label never
  // enters its defaultdict(list)
  for (const name of [" ", "  "]) {
    const chunk = buildPrompt(tokenizer, ["cat", name, "dog"]);
    assertEquals(chunk.query, "cat.  . dog");
    assertEquals([...chunk.positiveMapLabelToToken], [[1, [1]], [3, [4]]]);
    assertEquals(chunk.droppedLabels, [2]);
    assertEquals(chunk.warnings.length, 1);
  }
});

Deno.test("positiveMap() keeps a label's other spans when one span's fallbacks cross", () => {
  const encoding = tokenizer.encode("cat.  . dog", { maxLength: 256, padToMaxLength: true });
  const union = positiveMap(encoding, [[[0, 3], [5, 6]]], [7], "union");
  assertEquals([...union.map], [[7, [1]]]);
  const last = positiveMap(encoding, [[[0, 3], [5, 6]]], [7], "last");
  assertEquals([...last.map], [[7, [1]]]);
  assertEquals(last.dropped, []);
});

Deno.test("deno task prompt writes no label with an empty token list and names the dropped one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "prompt-dropped-" });
  try {
    await Deno.writeTextFile(`${dir}/names.json`, JSON.stringify(["cat", " ", "   ", "dog"]));
    const result = await runCli(["prompt", "--names-file", `${dir}/names.json`, "--json"]);
    assertEquals(result.code, 0, result.stderr);
    const [chunk] = JSON.parse(result.stdout);
    assertEquals(chunk.positiveMapLabelToToken, { "1": [1], "4": [5] });
    assertEquals(chunk.droppedLabels, [2, 3]);
    assertEquals(result.stderr.match(/maps to no token/g)?.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
