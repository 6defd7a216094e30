/**
 * The site as files: nothing is written when the comparability check refuses, an existing
 * folder is replaced only when it is an earlier report, records are type-checked before any
 * page is rendered, one seed says n=1, and the leaderboard never puts R@1 in the AP column.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { InputError, UsageError } from "../../core/errors.ts";
import { pathExists } from "../../core/fs.ts";
import type { RunRecord } from "../../benchmarks/run_record.ts";
import { renderReportPage } from "../../reports/page.ts";
import { buildSite, readRuns, SITE_MARKER } from "../../reports/site.ts";
import { makeRecord, ODINW13, releasedRun } from "./records.ts";
import { runCli } from "../cli_helpers.ts";
import { withTestDir } from "../temp_dir.ts";

const withReportDir = (fn: (root: string) => Promise<void>) =>
  withTestDir(fn, { prefix: "report-site-test-" });

async function writeRuns(root: string, records: RunRecord[]): Promise<string[]> {
  const dirs = [];
  for (const [i, record] of records.entries()) {
    const dir = join(root, `run-${i}`);
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(record));
    dirs.push(dir);
  }
  return dirs;
}

async function entries(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("a refused comparison writes no page and leaves no temporary folder", async () => {
  await withReportDir(async (root) => {
    const other = makeRecord({ engine: "wasm" });
    other.provenance.dataHash = "00".repeat(32);
    const runs = await writeRuns(root, [makeRecord(), other]);
    const out = join(root, "site");
    await assertRejects(() => buildSite(runs, out), UsageError, "annotation files differ");
    assertEquals(await entries(root), ["run-0", "run-1"]);
  });
});

Deno.test("an existing folder is replaced only when it is empty or an earlier report", async () => {
  await withReportDir(async (root) => {
    const runs = await writeRuns(root, [makeRecord()]);
    const foreign = join(root, "foreign");
    await Deno.mkdir(foreign);
    await Deno.writeTextFile(join(foreign, "notes.txt"), "mine");
    await assertRejects(() => buildSite(runs, foreign), UsageError, "is not an earlier report");
    assertEquals(await Deno.readTextFile(join(foreign, "notes.txt")), "mine");
    const older = join(root, "older-report");
    await Deno.mkdir(older);
    await Deno.writeTextFile(join(older, "index.html"), "a report written before the marker");
    await buildSite(runs, older);
    assert(await pathExists(join(older, SITE_MARKER)));
    await Deno.remove(older, { recursive: true });

    const out = join(root, "site");
    await buildSite(runs, out);
    await Deno.writeTextFile(join(out, "stale.html"), "old");
    await buildSite(runs, out);
    assertEquals(await entries(out), [
      SITE_MARKER,
      "index.html",
      "results.csv",
      "results.json",
      "results.md",
      "run-1.html",
    ]);
    assertEquals((await entries(root)).filter((n) => n.startsWith(".")), []);
  });
});

Deno.test("a record with a wrong-typed field is refused with its file, field and value before any page", async () => {
  await withReportDir(async (root) => {
    const bad = makeRecord({
      patch: (r) => {
        (r.tasks[2] as unknown as Record<string, unknown>).images = "<b>10</b>";
      },
    });
    const [dir] = await writeRuns(root, [bad]);
    const error = await assertRejects(() => readRuns([dir]), InputError);
    assertStringIncludes(error.message, "tasks[2].images");
    assertStringIncludes(error.message, "<b>10</b>");
    assertStringIncludes(error.message, join(dir, "run.json"));
    const badContext = makeRecord({
      patch: (r) => {
        (r as unknown as Record<string, unknown>).comparison = { reference: 42 };
      },
    });
    const [other] = await writeRuns(join(root, "run-0"), [badContext]);
    const contextError = await assertRejects(() => readRuns([other]), InputError);
    assertStringIncludes(contextError.message, "comparison.reference");
    assert(!(await pathExists(join(root, "site"))));
  });
});

Deno.test("one seed shows n=1, never ± 0.0; several seeds show their std", () => {
  const oneSeed = makeRecord({
    protocol: "few-shot",
    tasks: Object.fromEntries(ODINW13.map((name) => [name, "test"])),
    cells: { "3": [3] },
  });
  const html = renderReportPage("t", [oneSeed]);
  assertStringIncludes(html, `<span class="delta">n=1</span>`);
  assert(!html.includes("± 0.0"), "a single seed is shown with ± 0.0");
  const threeSeeds = makeRecord({
    protocol: "few-shot",
    tasks: Object.fromEntries(ODINW13.map((name) => [name, "test"])),
    cells: { "3": [3, 30, 300] },
  });
  assertStringIncludes(renderReportPage("t", [threeSeeds]), `<span class="delta">± 0.0</span>`);
});

Deno.test("the leaderboard keeps AP and Flickr30K R@1 in separate columns", async () => {
  await withReportDir(async (root) => {
    const odinw = makeRecord({ value: 0.4 });
    const flickr = releasedRun("glip_tiny_model_o365_goldg_cc_sbu.pth", {
      suite: "flickr30k",
      tasks: { val: "val", test: "test" },
      value: 0.8,
    });
    const runs = await writeRuns(root, [odinw, flickr]);
    const out = join(root, "site");
    await assertRejects(() => buildSite(runs, out), UsageError, "suites differ");
    await buildSite(runs, out, { force: true });
    const index = await Deno.readTextFile(join(out, "index.html"));
    const headers = [...index.matchAll(/<th scope="col">([^<]*)<\/th>/g)].map((m) => m[1]);
    assertEquals(headers.slice(3, 6), [
      "AP (mean over tasks)",
      "Flickr30K R@1 (val)",
      "Flickr30K R@1 (test)",
    ]);
    const rows = [...index.matchAll(/<tr><th scope="row">[\s\S]*?<\/tr>/g)].map((m) =>
      [...m[0].matchAll(/<td[^>]*>([^<]*)/g)].map((c) => c[1])
    );
    assertEquals(rows.map((cells) => cells.slice(2, 5)), [
      ["40.0", "—", "—"],
      ["—", "80.0", "80.0"],
    ]);
    const markdown = await Deno.readTextFile(join(out, "results.md"));
    assertStringIncludes(markdown, "(R@1)");
    assertStringIncludes(markdown, "| **Average** | **40.0** | — |");
  });
});

Deno.test("report's stdout labels Flickr30K numbers R@1 and does not average its splits", async () => {
  await withReportDir(async (root) => {
    const flickr = makeRecord({
      suite: "flickr30k",
      tasks: { val: "val", test: "test" },
      value: 0.8,
    });
    const [run] = await writeRuns(root, [flickr]);
    const result = await runCli(["report", run, "--out", join(root, "site")]);
    assertEquals(result.code, 0, result.stderr);
    assertStringIncludes(result.stdout, "model · onnx (R@1)");
    assert(/Average\s+—/.test(result.stdout), result.stdout);
  });
});
