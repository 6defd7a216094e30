import { assertEquals, assertRejects } from "../assert.ts";
import { SHARED } from "../cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { evaluateFlickr30k, parseFlickrSentences } from "../../benchmarks/metrics/flickr30k.ts";
import { InputError } from "../../core/errors.ts";

const root = fileURLToPath(new URL("oracles/flickr30k/flickr-a/", SHARED));
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
