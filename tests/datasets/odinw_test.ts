import { assertEquals, assertThrows } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import { odinwTask, odinwTasks, taskPrompt } from "../../datasets/odinw.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";
import { buildPrompt } from "../../models/text/prompt.ts";
import { UsageError } from "../../core/errors.ts";

const oracles: { suite: string; query: string }[] = JSON.parse(
  await Deno.readTextFile(new URL("oracles/text/prompts.json", FIXTURES)),
);
const tokenizer = await loadBertTokenizer();

Deno.test("the ODinW manifest has 35 tasks, 13 of them in ODinW-13", () => {
  assertEquals(odinwTasks("odinw35").length, 35);
  assertEquals(odinwTasks("odinw13").map((t) => t.name), [
    "AerialMaritimeDrone",
    "Aquarium",
    "CottontailRabbits",
    "EgoHands",
    "NorthAmericaMushrooms",
    "Packages",
    "PascalVOC",
    "Raccoon",
    "ShellfishOpenImages",
    "VehiclesOpenImages",
    "pistols",
    "pothole",
    "thermalDogsAndPeople",
  ]);
});

Deno.test("zero-shot splits follow GLIP's README: minival for EgoHands and Vehicles, val otherwise", () => {
  for (const task of odinwTasks("odinw13")) {
    assertEquals(
      task.zeroShotSplit,
      ["EgoHands", "VehiclesOpenImages"].includes(task.name) ? "minival" : "val",
      task.name,
    );
  }
  assertEquals(odinwTask("PascalVOC").splits.test, odinwTask("PascalVOC").splits.val);
  assertEquals(
    odinwTask("pistols").splits.val.annFile,
    "odinw/pistols/export/val_annotations_without_background.json",
  );
});

Deno.test("engineered prompts equal the fact sheet's strings", () => {
  const expected: Record<string, string> = {
    Aquarium:
      " fish. jellyfish. penguin , which is black and white. puffin with orange beaks . shark. starfish. stingray which is flat and round",
    EgoHands: " hand of a person",
    Packages: "there is a package on the porch",
    pothole: "there are some holes on the road",
    CottontailRabbits: "rabbit",
    NorthAmericaMushrooms: "flat mushroom. yellow mushroom",
  };
  for (const [name, query] of Object.entries(expected)) {
    const { names, captionPrompt } = taskPrompt(odinwTask(name), "engineered");
    assertEquals(buildPrompt(tokenizer, names, { captionPrompt }).query, query, name);
  }
});

Deno.test("raw ODinW-13 prompts equal the oracle queries", () => {
  for (const oracle of oracles.filter((o) => o.suite.startsWith("odinw13/"))) {
    const name = oracle.suite.slice("odinw13/".length);
    const task = odinwTasks("odinw13").find((t) => t.config === name || t.config.startsWith(name));
    if (!task) throw new Error(`no manifest task for oracle ${oracle.suite}`);
    assertEquals(
      buildPrompt(tokenizer, taskPrompt(task, "raw").names).query,
      oracle.query,
      oracle.suite,
    );
  }
});

Deno.test("odinwTask() answers an unknown task with a suggestion", () => {
  assertThrows(() => odinwTask("Aquarim"), UsageError, "Did you mean 'Aquarium'?");
});
