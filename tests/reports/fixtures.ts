/**
 * Run records for report tests: a real demo run, varied deterministically into several engines,
 * the 13 ODinW task names, and few-shot cells over shots and seeds (values derived from a
 * formula, so the charts have a real curve to draw; they are rendering fixtures, not results).
 */
import { makeTestDir } from "../temp_dir.ts";
import { join } from "node:path";
import { runCli } from "../cli_helpers.ts";
import { readRunRecord, type RunRecord } from "../../benchmarks/run_record.ts";

const ODINW13 = [
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
];

let demo: Promise<RunRecord> | undefined;

/** The record of one real demo run (run once per test process). */
export function demoRecord(): Promise<RunRecord> {
  demo ??= (async () => {
    const dir = await makeTestDir({ prefix: "report-demo-" });
    const result = await runCli(["bench", "odinw", "--demo", "--out", dir, "--no-report"]);
    if (result.code !== 0) throw new Error(`demo run failed: ${result.stderr}`);
    return await readRunRecord(join(dir, "run.json"));
  })();
  return demo;
}

/** A variation of the demo record: another engine, all 13 ODinW task names, few-shot cells. */
export function variant(
  base: RunRecord,
  engine: string,
  index: number,
  options: { fewShot?: boolean } = {},
): RunRecord {
  const template = base.tasks[0];
  const tasks = ODINW13.map((name, t) => {
    const ap = 0.2 + 0.03 * ((t * 7 + index * 3) % 13);
    const named = Object.fromEntries(
      Object.keys(template.result!.named).map((
        k,
      ) => [k, k.startsWith("AR") ? Math.min(1, ap + 0.1) : ap]),
    );
    const cells = options.fewShot
      ? [1, 3, 5, 10].flatMap((shots) =>
        [3, 30, 300].map((seed) => ({
          shots,
          seed,
          test: {
            ...template.result!,
            headline: Math.min(0.95, ap + 0.04 * Math.log2(shots + 1) + 0.005 * ((seed + t) % 3)),
            named,
          },
        }))
      )
      : undefined;
    return { ...template, name, result: { ...template.result!, headline: ap, named }, cells };
  });
  return {
    ...base,
    id: `${base.id}-${engine}-${index}`,
    engine: { ...base.engine, engine },
    tasks,
    summary: {
      ...base.summary,
      mean: tasks.reduce((s, t) => s + t.result.headline, 0) / tasks.length,
      tasks: tasks.length,
    },
    timings: { ...base.timings, imagesPerSecond: base.timings.imagesPerSecond * (1 + index) },
  };
}

/** Writes records as run folders; returns their paths. */
export async function writeRuns(records: RunRecord[]): Promise<string[]> {
  const dirs = [];
  for (const record of records) {
    const dir = await makeTestDir({ prefix: "report-run-" });
    await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(record));
    dirs.push(dir);
  }
  return dirs;
}
