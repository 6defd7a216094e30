import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { UsageError } from "../../core/errors.ts";
import {
  checkTrainerTemplate,
  trainCell,
  trainerScript,
} from "../../benchmarks/external_trainer.ts";
import type { DetectionTask } from "../../benchmarks/suite.ts";

/** A one-image task whose name carries a command substitution. */
async function hostileTask(dir: string): Promise<DetectionTask> {
  const train = join(dir, "train.json");
  await Deno.writeTextFile(
    train,
    JSON.stringify({
      images: [{ id: 1, file_name: "a.jpg", width: 8, height: 8 }],
      annotations: [{
        id: 1,
        image_id: 1,
        category_id: 1,
        bbox: [0, 0, 4, 4],
        area: 16,
        iscrowd: 0,
      }],
      categories: [{ id: 1, name: "thing" }],
    }),
  );
  return {
    name: "$(touch PWNED)`touch PWNED2`",
    dataset: "demo",
    split: "val",
    annotationFile: train,
    trainAnnotationFile: train,
    imageRoot: dir,
    metric: "coco",
    names: ["thing"],
    categoryIds: [1],
    separator: ". ",
    detectionsPerImage: 100,
  } as DetectionTask;
}

for (
  const template of [
    "echo {task} > {out}/task.txt && touch {out}/model_final.pth",
    'echo "{task}" > "{out}/task.txt" && touch "{out}"/model_final.pth',
  ]
) {
  Deno.test(`trainer values run nothing, template ${JSON.stringify(template)}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "trainer-quoting-" });
    try {
      const task = await hostileTask(dir);
      const checkpoint = await trainCell({ task, shots: "all", seed: 0 }, {
        template,
        outDir: dir,
        sampler: "seeded",
      });
      assert(checkpoint.endsWith("model_final.pth"));
      // the value arrived as text, and no command inside it ran (neither in cwd nor in dir)
      const cell = join(dir, "trainer", "_touch_PWNED_touch_PWNED2_", "all_0", "out");
      assertEquals((await Deno.readTextFile(join(cell, "task.txt"))).trim(), task.name);
      for (const folder of [dir, cell, Deno.cwd()]) {
        for (const name of ["PWNED", "PWNED2"]) {
          assert(!(await exists(join(folder, name))), `${name} was created in ${folder}`);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("trainerScript() rewrites each placeholder to one positional parameter", () => {
  const { script, args } = trainerScript("t {out} --seed {seed} --again {out}", {
    out: "/o",
    seed: "3",
  });
  assertEquals(script, 't "${1}" --seed "${2}" --again "${1}"');
  assertEquals(args, ["/o", "3"]);
});

Deno.test("a placeholder inside single quotes is a usage error (it would not expand)", () => {
  assertThrows(
    () => checkTrainerTemplate("train '{out}'"),
    UsageError,
    "inside single quotes",
  );
  // a single quote inside double quotes does not open a quote
  checkTrainerTemplate(`echo "it's" {out}`);
});
