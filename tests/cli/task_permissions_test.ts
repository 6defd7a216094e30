/**
 * The `deno task` lines run with narrow permissions (deno.json). These tests run the real tasks
 * as a user would, so a task that lost a permission it needs fails here, and check that the
 * tasks that need no network or subprocess get none.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { FIXTURES, ROOT } from "../cli_helpers.ts";
import { UsageError } from "../../core/errors.ts";
import { trainCell } from "../../benchmarks/external_trainer.ts";
import type { DetectionTask } from "../../benchmarks/suite.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
  tasks: Record<string, string>;
};

/** Runs `deno task NAME ...args` from the repository root. */
async function task(name: string, ...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", name, ...args],
    cwd: fileURLToPath(ROOT),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("user-facing tasks grant no blanket -A, network only to data, subprocesses only git to bench", () => {
  for (
    const name of [
      "bench",
      "eval",
      "prompt",
      "fewshot",
      "data",
      "export",
      "trace",
      "report",
      "list",
    ]
  ) {
    const line = config.tasks[name];
    assert(!/ -A /.test(line), `${name}: ${line}`);
    assertEquals(line.includes("--allow-net"), name === "data", `${name}: ${line}`);
    assertEquals(/--allow-run(?!=git )/.test(line), false, `${name}: ${line}`);
    assertEquals(line.includes("--allow-run=git"), name === "bench", `${name}: ${line}`);
  }
  for (const name of ["eval", "prompt"]) {
    assertEquals(config.tasks[name].includes("--allow-write"), false, `${name} only reads`);
  }
});

Deno.test("deno task eval, prompt and list work with their permissions", async () => {
  const oracles = fileURLToPath(new URL("oracles/coco/", FIXTURES));
  const evaluated = await task(
    "eval",
    "coco",
    "--gt",
    `${oracles}coco-sparse.gt.json`,
    "--dt",
    `${oracles}coco-sparse.dt.json`,
  );
  assertEquals(evaluated.code, 0, evaluated.stderr);
  assertStringIncludes(evaluated.stdout, "maxDets=100 ] =  0.209");
  const dir = await Deno.makeTempDir({ prefix: "task-permissions-" });
  try {
    await Deno.writeTextFile(join(dir, "names.json"), '["cat", "dog"]');
    const prompted = await task("prompt", "--names-file", join(dir, "names.json"), "--json");
    assertEquals(prompted.code, 0, prompted.stderr);
    const listed = await task("list", "engines", "--json");
    assertEquals(listed.code, 0, listed.stderr);
    assertEquals(listed.stdout.includes("Requires"), false, listed.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task bench runs the demo and deno task report renders it with their permissions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "task-permissions-" });
  try {
    const benched = await task("bench", "odinw", "--limit", "1", "--out", join(dir, "run"));
    assertEquals(benched.code, 0, benched.stderr);
    const record = JSON.parse(await Deno.readTextFile(join(dir, "run", "run.json")));
    assert(JSON.stringify(record).includes('"gitCommit"'), "bench records the git commit");
    const reported = await task("report", join(dir, "run"), "--out", join(dir, "site"));
    assertEquals(reported.code, 0, reported.stderr);
    assert((await Deno.stat(join(dir, "site", "index.html"))).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a trainer command without --allow-run says which flag to add and how",
  permissions: { read: true, write: true, env: true, run: false },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "task-permissions-" });
    try {
      const train = join(dir, "train.json");
      await Deno.writeTextFile(
        train,
        JSON.stringify({
          images: [{ id: 1, file_name: "a.jpg", width: 8, height: 8 }],
          annotations: [],
          categories: [{ id: 1, name: "thing" }],
        }),
      );
      const task = {
        name: "T",
        annotationFile: train,
        trainAnnotationFile: train,
      } as DetectionTask;
      const error = await assertRejects(
        () =>
          trainCell({ task, shots: "all", seed: 0 }, {
            template: "touch {out}/model_final.pth",
            outDir: dir,
            sampler: "seeded",
          }),
        UsageError,
        "needs --allow-run=sh",
      );
      assertStringIncludes(error.message, "deno task glip bench");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a remote plugin under 'deno task list' (no network) fails saying which flag to add", async () => {
  const result = await task("list", "engines", "--plugin", "https://plugins.invalid/engine.ts");
  assertEquals(result.code, 1, result.stderr);
  assertStringIncludes(result.stderr, "needs --allow-import");
  assertStringIncludes(result.stderr, "deno task glip list");
});
