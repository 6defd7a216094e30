import { assertEquals, assertRejects } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { evaluateFlickr30k, parseFlickrSentences } from "../../benchmarks/metrics/flickr30k.ts";
import { InputError } from "../../core/errors.ts";

const root = fileURLToPath(new URL("oracles/flickr30k/flickr-a/", FIXTURES));
const predictions = JSON.parse(await Deno.readTextFile(`${root}preds.json`));

Deno.test("evaluateFlickr30k() reproduces MDETR's ANY-BOX recall (GLIP's protocol)", async () => {
  const expected = JSON.parse(await Deno.readTextFile(`${root}expected-anybox.json`));
  assertEquals(await evaluateFlickr30k(predictions, { root, subset: "test" }), expected);
});

Deno.test("evaluateFlickr30k() reproduces MDETR's MERGED-BOXES recall", async () => {
  const expected = JSON.parse(await Deno.readTextFile(`${root}expected-merged.json`));
  assertEquals(
    await evaluateFlickr30k(predictions, { root, subset: "test", merged: true }),
    expected,
  );
});

Deno.test("evaluateFlickr30k() refuses predictions that miss sentences", async () => {
  await assertRejects(
    () => evaluateFlickr30k(predictions.slice(1), { root, subset: "test" }),
    InputError,
    "missing",
  );
});

Deno.test("parseFlickrSentences() reads phrase ids, types and word positions", () => {
  const [sentence] = parseFlickrSentences("A [/EN#12/people/other young man] rides .");
  assertEquals(sentence.sentence, "A young man rides .");
  assertEquals(sentence.phrases, [{
    firstWordIndex: 1,
    phrase: "young man",
    phraseId: "12",
    phraseTypes: ["people", "other"],
  }]);
});

Deno.test("parseMdetrFlickr() reads MDETR's separateGT entries and their phrase spans", async () => {
  const { parseMdetrFlickr } = await import("../../benchmarks/metrics/flickr30k.ts");
  const data = {
    images: [{
      file_name: "1000000.jpg",
      height: 333,
      width: 500,
      id: 0,
      caption: "A picture of a thing .",
      sentence_id: 2,
      original_img_id: 1000000,
      tokens_positive_eval: [[[0, 9]], [[15, 22]]],
    }],
    annotations: [],
    categories: [{ id: 1, name: "object" }],
  };
  const [entry] = parseMdetrFlickr(data, "final_flickr_separateGT_test.json");
  assertEquals(entry.imageId, "1000000");
  assertEquals(entry.sentenceId, 2);
  assertEquals(entry.phraseSpans, [[[0, 9]], [[15, 22]]]);
  const bad = { images: [{ ...data.images[0], tokens_positive_eval: [[0, 9]] }] };
  let message = "";
  try {
    parseMdetrFlickr(bad, "x.json");
  } catch (error) {
    message = (error as Error).message;
  }
  assertEquals(message.startsWith("x.json: images[0].tokens_positive_eval"), true);
});
