/**
 * A tuner killed at any point of an epoch resumes to the same final weights, byte for byte, as an
 * uninterrupted run (nano model, two or three epochs). The crash is simulated by throwing from
 * the state store's after-write hook, at several points in a chain: between two files of epoch 1
 * (before any state: the resume starts over), after every file of epoch 2 but before its state,
 * right after the state of the last epoch; then the newest state's files are damaged and the
 * resume falls back to the epoch before it and trains that epoch again.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { type FullTuningResult, tuneFullModel } from "../../models/train/full_tuner.ts";
import { type PromptTuningResult, tunePrompt } from "../../models/train/prompt_tuner.ts";
import {
  tinyFullProblem,
  tinyFullSettings,
  tinyPromptProblem,
  tinyPromptSettings,
} from "./tuner_fixtures.ts";

class Crash extends Error {}

/** A hook that throws {@link Crash} right after `point` was written. */
const crashAfter = (point: string) => (what: string) => {
  if (what === point) throw new Crash(`simulated crash after ${what}`);
};

const bytesOf = (data: Float32Array) =>
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

function assertSameFull(actual: FullTuningResult, expected: FullTuningResult): void {
  assertEquals([actual.bestEpoch, actual.bestValAp], [expected.bestEpoch, expected.bestValAp]);
  assertEquals([...actual.weights.keys()].sort(), [...expected.weights.keys()].sort());
  for (const [name, { data }] of expected.weights) {
    assertEquals(bytesOf(actual.weights.get(name)!.data), bytesOf(data), name);
  }
  assertEquals(
    actual.epochs.map((e) => [e.epoch, e.valAp, e.meanLoss]),
    expected.epochs.map((e) => [e.epoch, e.valAp, e.meanLoss]),
  );
}

Deno.test("full-model tuning killed at several points of its epochs resumes to identical weights", async () => {
  const root = await Deno.makeTempDir({ prefix: "crash-full-" });
  try {
    const settings = tinyFullSettings(2);
    const straightDir = join(root, "straight");
    const straight = await tuneFullModel(await tinyFullProblem(straightDir), settings, 1);
    assert(new Set(straight.epochs.map((e) => e.valAp)).size > 1, "val AP moves between epochs");

    const dir = join(root, "crashed");
    for (
      const point of [
        "epoch-0001/best.safetensors",
        "epoch-0002/adam_v.safetensors",
        "state-0002.json",
      ]
    ) {
      await assertRejects(
        async () => tuneFullModel(await tinyFullProblem(dir, crashAfter(point)), settings, 1),
        Crash,
      );
    }
    // the newest state's files damaged: back to epoch 1's state, epoch 2 trained again
    const moments = join(dir, "epoch-0002", "adam_m.safetensors");
    const bytes = await Deno.readFile(moments);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(moments, bytes);
    const lines: string[] = [];
    const problem = await tinyFullProblem(dir);
    const resumed = await tuneFullModel({ ...problem, log: (l) => lines.push(l) }, settings, 1);
    assert(lines.some((l) => l.includes("falling back")), lines.join("\n"));
    assert(lines.includes("resuming after epoch 1"), lines.join("\n"));
    assertSameFull(resumed, straight);
    assertEquals(
      await Deno.readFile(join(dir, "epoch-0002", "weights.safetensors")),
      await Deno.readFile(join(straightDir, "epoch-0002", "weights.safetensors")),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

function assertSamePrompt(actual: PromptTuningResult, expected: PromptTuningResult): void {
  assertEquals([actual.bestEpoch, actual.bestValAp], [expected.bestEpoch, expected.bestValAp]);
  assertEquals(bytesOf(actual.offset), bytesOf(expected.offset));
  assertEquals(
    actual.epochs.map((e) => [e.epoch, e.valAp, e.meanLoss]),
    expected.epochs.map((e) => [e.epoch, e.valAp, e.meanLoss]),
  );
}

Deno.test("prompt tuning killed after a state and with a damaged newest state resumes to the same offset", async () => {
  const root = await Deno.makeTempDir({ prefix: "crash-prompt-" });
  try {
    const settings = tinyPromptSettings(3);
    const straight = await tunePrompt(await tinyPromptProblem(join(root, "straight")), settings, 1);
    const dir = join(root, "crashed");
    await assertRejects(
      async () =>
        tunePrompt(await tinyPromptProblem(dir, crashAfter("state-0002.json")), settings, 1),
      Crash,
    );
    assertSamePrompt(await tunePrompt(await tinyPromptProblem(dir), settings, 1), straight);
    // a truncated newest state (a disk that lost the rename's data): epoch 3 again from epoch 2
    await Deno.writeTextFile(join(dir, "state-0003.json"), '{"format": "glip-bench-tr');
    const lines: string[] = [];
    const problem = await tinyPromptProblem(dir);
    const again = await tunePrompt({ ...problem, log: (l) => lines.push(l) }, settings, 1);
    assert(lines.includes("resuming after epoch 2"), lines.join("\n"));
    assertSamePrompt(again, straight);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
