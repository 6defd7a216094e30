/**
 * The demo model's grounding corpus and training: prompts name each object correctly (and only
 * absent combinations as distractors), the corpus never reuses the demo tasks' images, and a
 * short training run lowers the loss and is reproducible bit for bit.
 */
import { SeededRandom } from "../../models/glip/weights.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";
import {
  corpusPrompt,
  DEMO_TRAINING,
  groundingCorpus,
  trainDemoHead,
} from "../../models/train/demo_model.ts";
import { DEMO_HEAD_WEIGHTS, demoBundle } from "../../benchmarks/models.ts";
import { readCheckpoint, readSafetensorsMetadata } from "../../models/checkpoint/mod.ts";
import { assert, assertEquals } from "../assert.ts";

const VOCAB = new URL("../../models/text/bert-base-uncased-vocab.txt", import.meta.url).pathname;

Deno.test("corpus prompts name every object by shape, colour or both; distractors are absent combinations", () => {
  const corpus = groundingCorpus(30, 5);
  const random = new SeededRandom(9);
  const styles = new Set<string>();
  for (const image of corpus) {
    const prompt = corpusPrompt(image, random);
    image.objects.forEach((object, o) => {
      const names = prompt.objectNames[o].map((n) => prompt.names[n]);
      assertEquals(names.length, 1);
      const name = names[0];
      assert(
        name === object.shape || name === object.colour || name === `${object.colour} object` ||
          name === `${object.colour} ${object.shape}`,
        `${name} names ${object.colour} ${object.shape}`,
      );
      styles.add(
        name.includes(" ") ? (name.endsWith("object") ? "colour object" : "pair") : "single",
      );
    });
    const present = new Set(image.objects.map((o) => `${o.colour} ${o.shape}`));
    for (const name of prompt.names) {
      if (name.includes(" ") && !name.endsWith(" object")) {
        const named = image.objects.some((o) => `${o.colour} ${o.shape}` === name);
        assert(named || !present.has(name), `distractor ${name} is absent`);
      }
    }
  }
  assertEquals([...styles].sort(), ["colour object", "pair", "single"]);
});

Deno.test("the held-out shape is never named: its objects are background in the corpus", () => {
  const corpus = groundingCorpus(40, 6);
  const random = new SeededRandom(3);
  let unnamed = 0;
  for (const image of corpus) {
    const prompt = corpusPrompt(image, random, "triangle");
    assert(prompt.names.every((n) => !n.includes("triangle")), prompt.names.join(". "));
    image.objects.forEach((object, o) => {
      const names = prompt.objectNames[o].map((n) => prompt.names[n]);
      if (object.shape === "triangle") {
        // only a colour-only prompt may name it (by its colour)
        assert(names.every((n) => !n.includes(" ") || n.endsWith(" object")), names.join());
        if (names.length === 0) unnamed++;
      } else assertEquals(names.length, 1);
    });
  }
  assert(unnamed > 0, "some triangles are left unnamed");
});

Deno.test("a short demo training run lowers the loss and is reproducible", async () => {
  const tokenizer = await loadBertTokenizer(VOCAB);
  const settings = { ...DEMO_TRAINING, images: 8, epochs: 3 };
  const first = await trainDemoHead(tokenizer, settings);
  assert(
    first.epochLosses.at(-1)! < first.epochLosses[0],
    `loss falls: ${first.epochLosses.join(", ")}`,
  );
  const second = await trainDemoHead(tokenizer, { ...settings, epochs: 1 });
  assertEquals(second.epochLosses[0], first.epochLosses[0]);
});

Deno.test("the committed demo weights are the demo bundle's head", async () => {
  const bundle = await demoBundle();
  assertEquals(bundle.manifest.configName, "nano-demo");
  const metadata = await readSafetensorsMetadata(DEMO_HEAD_WEIGHTS);
  assertEquals(JSON.parse(metadata.settings), DEMO_TRAINING, "trained with DEMO_TRAINING");
  const checkpoint = await readCheckpoint(DEMO_HEAD_WEIGHTS);
  try {
    assert(checkpoint.tensors.size > 50);
  } finally {
    checkpoint.close();
  }
});
