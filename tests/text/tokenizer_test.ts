import { assertEquals } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";

const cases: { text: string; tokens: string[]; inputIds: number[] }[] = JSON.parse(
  await Deno.readTextFile(new URL("oracles/text/tokenizer.json", FIXTURES)),
);
const tokenizer = await loadBertTokenizer();

for (const oracle of cases) {
  Deno.test(`encode() matches bert-base-uncased for ${JSON.stringify(oracle.text.slice(0, 40))}`, () => {
    const encoding = tokenizer.encode(oracle.text);
    assertEquals(encoding.tokens, oracle.tokens);
    assertEquals([...encoding.inputIds], oracle.inputIds);
  });
}

Deno.test("encode() truncates to maxLength with [SEP] last and pads with [PAD]", () => {
  const long = Array.from({ length: 300 }, (_, i) => `w${i}`).join(" ");
  const encoding = tokenizer.encode(long, { maxLength: 256, padToMaxLength: true });
  assertEquals(encoding.inputIds.length, 256);
  assertEquals(encoding.length, 256);
  assertEquals(encoding.inputIds[255], tokenizer.sepId);
  const short = tokenizer.encode("fish", { maxLength: 256, padToMaxLength: true });
  assertEquals(short.length, 3);
  assertEquals(short.inputIds[3], tokenizer.padId);
  assertEquals(short.attentionMask[3], 0);
});

Deno.test("encode() maps characters to tokens and whitespace to null", () => {
  const encoding = tokenizer.encode("jetski boat");
  assertEquals(encoding.tokens, ["jets", "##ki", "boat"]);
  assertEquals(encoding.charToToken, [1, 1, 1, 1, 2, 2, null, 3, 3, 3, 3]);
  assertEquals(encoding.tokenToChars.slice(1, 4), [[0, 4], [4, 6], [7, 11]]);
});

Deno.test("encode() turns a word over 100 characters into [UNK]", () => {
  assertEquals(tokenizer.encode("a".repeat(101)).tokens, ["[UNK]"]);
});
