/**
 * The cluster examples run as written: `examples/slurm/submit.sh` under a stand-in `sbatch`
 * (it runs each array task, one after another, with the variables Slurm gives an array task)
 * and `examples/kubernetes/bench-indexed-job.yaml`'s containers with the environment the
 * manifest sets (plus the `JOB_COMPLETION_INDEX` Kubernetes adds). Both runs use `--shard auto`
 * on the embedded demo and end in `bench merge`, whose folder must hold every file of one
 * unsharded run, each equal to it.
 *
 * Only paths change from the examples: the run folder is a temp folder and `BENCH_ARGS` is
 * `--demo` (the examples name a cluster's model and data).
 *
 * What may differ, and why: in run.json (and the report's results.json, which holds the
 * records) `id` and `createdAt` (when each run ended), `timings` (per-shard engines and wall
 * time), `invocations` (each shard encodes every prompt once), `provenance.command` (the command
 * lines) and `settings.deliberateDifferences` (the merged run says it was merged); timings.json
 * (wall times); the report's run id column (results.csv) and its HTML pages (they show all the
 * above).
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { assert, assertEquals } from "../assert.ts";
import { ROOT, runCli } from "../cli_helpers.ts";
import { makeTestDir } from "../temp_dir.ts";

const root = fileURLToPath(ROOT);
const examples = join(root, "examples");

/** A test stand-in for Slurm's sbatch: runs the job at once, an array's tasks one by one. */
const FAKE_SBATCH = `#!/bin/bash
set -euo pipefail
array=""
script=""
exports=()
for arg in "$@"; do
  case "$arg" in
    --array=*) array=\${arg#--array=} ;;
    --export=*)
      IFS=, read -ra items <<<"\${arg#--export=}"
      for item in "\${items[@]}"; do [ "$item" = ALL ] || exports+=("$item"); done ;;
    -*) ;;
    *) script=$arg ;;
  esac
done
[ -n "$array" ] || array=$(sed -n 's/^#SBATCH --array=//p' "$script")
job=$((1000 + RANDOM))
run() { env "\${exports[@]}" SLURM_JOB_ID="$job" SLURM_SUBMIT_DIR="$PWD" "$@" bash "$script" >>"$FAKE_SLURM_LOG" 2>&1; }
if [ -n "$array" ]; then
  min=\${array%-*}
  max=\${array#*-}
  for id in $(seq "$min" "$max"); do
    run SLURM_ARRAY_JOB_ID="$job" SLURM_ARRAY_TASK_ID="$id" SLURM_ARRAY_TASK_MIN="$min" \\
      SLURM_ARRAY_TASK_MAX="$max" SLURM_ARRAY_TASK_COUNT=$((max - min + 1)) SLURM_ARRAY_TASK_STEP=1
  done
else
  run
fi
echo "$job"
`;

/** The environment of a job: only what Deno needs from this process, and the job's own. */
function jobEnv(own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "TMPDIR", "TMP", "TEMP", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  env.PATH = `${dirname(Deno.execPath())}:${env.PATH ?? "/usr/bin:/bin"}`;
  return { ...env, ...own };
}

async function run(command: string, args: string[], env: Record<string, string>) {
  const output = await new Deno.Command(command, {
    args,
    cwd: root,
    env,
    clearEnv: true,
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

async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (at: string) => {
    for await (const entry of Deno.readDir(at)) {
      const path = join(at, entry.name);
      if (entry.isDirectory) await walk(path);
      else files.push(relative(dir, path));
    }
  };
  await walk(dir);
  return files.sort();
}

/** A run record without the fields that say when and how fast (see the module doc). */
// deno-lint-ignore no-explicit-any
function comparableRecord(record: any, merged: boolean) {
  const { id: _id, createdAt: _createdAt, timings: _t, invocations: _i, ...rest } = record;
  const { command: _command, ...provenance } = rest.provenance;
  const notes = [...rest.settings.deliberateDifferences];
  if (merged) {
    assert(/^Merged from \d+ shards\.$/.test(notes.pop()), "the merged run says it was merged");
  }
  return { ...rest, provenance, settings: { ...rest.settings, deliberateDifferences: notes } };
}

/** Asserts that `merged` holds every file of the unsharded run `reference`, each equal. */
async function assertSameRun(merged: string, reference: string): Promise<void> {
  const files = await filesUnder(reference);
  for (
    const expected of [
      "run.json",
      "fingerprint.json",
      "timings.json",
      "detections/DemoShapes.jsonl",
      "detections/DemoShapes.bbox.json",
      "leaderboard/all_predictions_zeroshot.json",
      "report/index.html",
      "report/results.json",
    ]
  ) {
    assert(files.includes(expected), `the unsharded run writes ${expected}`);
  }
  assertEquals(await filesUnder(merged), files, "the merged run writes the same files");
  const read = (dir: string, file: string) => Deno.readTextFile(join(dir, file));
  for (const file of files) {
    const [a, b] = [await read(merged, file), await read(reference, file)];
    if (file === "run.json") {
      assertEquals(comparableRecord(JSON.parse(a), true), comparableRecord(JSON.parse(b), false));
    } else if (file === "report/results.json") {
      assertEquals(
        // deno-lint-ignore no-explicit-any
        JSON.parse(a).map((r: any) => comparableRecord(r, true)),
        // deno-lint-ignore no-explicit-any
        JSON.parse(b).map((r: any) => comparableRecord(r, false)),
      );
    } else if (file === "report/results.csv") {
      const withoutId = (text: string) => text.split("\n").map((l) => l.replace(/^[^,]*,/, ""));
      assertEquals(withoutId(a), withoutId(b));
    } else if (file === "timings.json" || file.endsWith(".html")) {
      assert(a.length > 0, `${file} is written`);
    } else {
      assertEquals(a, b, `${file} equals the unsharded run's`);
    }
  }
}

const reference = join(await makeTestDir({ prefix: "cluster-ref-" }), "run");
const referenceRun = await runCli(["bench", "odinw", "--demo", "--out", reference]);
if (referenceRun.code !== 0) throw new Error(`the unsharded run failed:\n${referenceRun.stderr}`);

Deno.test("examples/slurm: two array shards with --shard auto, merged, equal one unsharded run", async () => {
  const dir = await makeTestDir({ prefix: "cluster-slurm-" });
  await Deno.mkdir(join(dir, "bin"));
  await Deno.writeTextFile(join(dir, "bin", "sbatch"), FAKE_SBATCH, { mode: 0o755 });
  const runDir = join(dir, "run");
  const log = join(dir, "slurm.log");
  const env = jobEnv({ RUN_DIR: runDir, SHARDS: "2", BENCH_ARGS: "--demo", FAKE_SLURM_LOG: log });
  env.PATH = `${join(dir, "bin")}:${env.PATH}`;
  const result = await run("bash", [join(examples, "slurm", "submit.sh")], env);
  const jobLog = await Deno.readTextFile(log).catch(() => "");
  assertEquals(result.code, 0, `${result.stderr}\n${jobLog}`);
  assert(
    /shard 1\/2 from the Slurm job array/.test(jobLog) &&
      /shard 2\/2 from the Slurm job array/.test(jobLog),
    `each array task ran its own shard:\n${jobLog}`,
  );
  assertEquals((await filesUnder(runDir)).filter((f) => f.endsWith("/run.json")).sort(), [
    "merged/run.json",
    "shard-1/run.json",
    "shard-2/run.json",
  ]);
  await assertSameRun(join(runDir, "merged"), reference);
});

Deno.test("examples/kubernetes: the Indexed Job's pods and the merge Job equal one unsharded run", async () => {
  const text = await Deno.readTextFile(join(examples, "kubernetes", "bench-indexed-job.yaml"));
  // deno-lint-ignore no-explicit-any
  const jobs = parseAllDocuments(text).map((d) => d.toJSON() as any);
  const shards = jobs.find((j) => j.spec.completionMode === "Indexed");
  const merge = jobs.find((j) => j !== shards);
  assert(shards && merge && jobs.length === 2, "a shard Job and a merge Job");
  const count = shards.spec.completions;
  const runDir = join(await makeTestDir({ prefix: "cluster-k8s-" }), "run");
  const containerEnv = (job: typeof shards) => {
    const container = job.spec.template.spec.containers[0];
    const env = Object.fromEntries(
      // deno-lint-ignore no-explicit-any
      container.env.map((e: any) => [e.name, String(e.value)]),
    ) as Record<string, string>;
    return { container, env };
  };
  const pod = containerEnv(shards);
  assertEquals(Number(pod.env.JOB_COMPLETIONS), count, "JOB_COMPLETIONS = spec.completions");
  assertEquals(Number(containerEnv(merge).env.JOB_COMPLETIONS), count);
  for (let index = 0; index < count; index++) {
    const [shell, ...args] = [...pod.container.command, ...pod.container.args];
    const result = await run(
      shell,
      args,
      jobEnv({
        ...pod.env,
        RUN_DIR: runDir,
        BENCH_ARGS: "--demo",
        JOB_COMPLETION_INDEX: String(index),
      }),
    );
    assertEquals(result.code, 0, result.stderr);
    assert(result.stderr.includes(`shard ${index + 1}/${count} from the Kubernetes Indexed Job`));
  }
  const merger = containerEnv(merge);
  const [shell, ...args] = [...merger.container.command, ...merger.container.args];
  const merged = await run(shell, args, jobEnv({ ...merger.env, RUN_DIR: runDir }));
  assertEquals(merged.code, 0, merged.stderr);
  await assertSameRun(join(runDir, "merged"), reference);
});
