/**
 * A static site from run records: `index.html` (a leaderboard of every run), one page per run,
 * one comparison page, and the data beside them as JSON, CSV and Markdown.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { pathExists } from "../core/fs.ts";
import { readRunRecord, type RunRecord } from "../benchmarks/run_record.ts";
import { parityFailed } from "../benchmarks/parity_record.ts";
import { headlineNumbers, page, renderReportPage, runLabel } from "./page.ts";
import { comparabilityDifferences } from "./compare.ts";
import { escapeHtml as esc, relativeHref } from "./html.ts";
import { checkRecordForReport, MAX_RECORD_BYTES } from "./record_check.ts";
import { COCO_STAT_NAMES } from "../benchmarks/metrics/coco.ts";

/** A run record and the file it was read from. */
export interface RunFile {
  /** The `run.json` it was read from. */
  path: string;
  /** The record, validated and checked for the report. */
  record: RunRecord;
}

async function readChecked(path: string): Promise<RunFile> {
  const size = (await Deno.stat(path)).size;
  if (size > MAX_RECORD_BYTES) {
    throw new InputError(
      `the run record is ${size} bytes; a report reads records up to ${MAX_RECORD_BYTES} bytes`,
      { file: path },
    );
  }
  const record = await readRunRecord(path);
  checkRecordForReport(record, path);
  return { path, record };
}

/** Reads run records from run folders (`run.json` inside) or record files, and checks them. */
export async function readRuns(inputs: string[]): Promise<RunFile[]> {
  const runs: RunFile[] = [];
  for (const input of inputs) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(input);
    } catch {
      throw new UsageError(`report: ${input} does not exist (give run folders or run.json files)`);
    }
    if (info.isFile) {
      runs.push(await readChecked(input));
      continue;
    }
    const direct = join(input, "run.json");
    if (await pathExists(direct)) {
      runs.push(await readChecked(direct));
      continue;
    }
    // a matrix run: one sub-folder per combination
    const found = [];
    for await (const entry of Deno.readDir(input)) {
      if (!entry.isDirectory) continue;
      const path = join(input, entry.name, "run.json");
      if (await pathExists(path)) found.push(path);
    }
    if (found.length === 0) {
      throw new UsageError(`report: no run.json in ${input} or its sub-folders`);
    }
    for (const path of found.sort()) runs.push(await readChecked(path));
  }
  return runs;
}

function pct(v: number | undefined): string {
  return v === undefined || v < 0 ? "—" : (100 * v).toFixed(1);
}

/** CSV of task results: one row per run and task. */
export function resultsCsv(records: RunRecord[]): string {
  const keys = COCO_STAT_NAMES;
  const quote = (value: unknown) => {
    // A text cell starting with = + - @ would be a formula in a spreadsheet: keep it text.
    const s = typeof value === "string" && /^[=+\-@\t\r]/.test(value) ? `'${value}` : String(value);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [
    ["run", "suite", "protocol", "model", "engine", "task", "split", "metric", "headline", ...keys]
      .join(","),
  ];
  for (const r of records) {
    for (const t of r.tasks) {
      lines.push(
        [
          r.id,
          r.suite,
          r.protocol,
          r.model.name,
          r.engine.engine,
          t.name,
          t.split,
          t.result ? headlineName(t.result.metric) : "",
          t.result?.headline ?? "",
          ...keys.map((k) => String(t.result?.named[k] ?? "")),
        ].map(quote).join(","),
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** The name of a metric's headline number. */
function headlineName(metric: string): string {
  return metric === "flickr30k" ? "R@1" : "AP";
}

/** Escapes text for a Markdown table cell. */
function mdCell(text: string): string {
  return text.replace(/[\\|`*_<>\[\]]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, " ");
}

/**
 * A Markdown table of each task's zero-shot headline per run (AP, or R@1 for Flickr30K), with
 * the mean over tasks; Flickr30K splits are not averaged.
 */
export function resultsMarkdown(records: RunRecord[]): string {
  const tasks = [...new Set(records.flatMap((r) => r.tasks.map((t) => t.name)))];
  const head = `| Task | ${
    records.map((r) => mdCell(`${runLabel(r)} (${r.suite === "flickr30k" ? "R@1" : "AP"})`))
      .join(" | ")
  } |\n|---|${records.map(() => "---:").join("|")}|`;
  const rows = tasks.map((name) =>
    `| ${mdCell(name)} | ${
      records.map((r) => pct(r.tasks.find((t) => t.name === name)?.result?.headline)).join(" | ")
    } |`
  );
  const average = (r: RunRecord) => {
    if (r.suite === "flickr30k") return "—";
    const values = r.tasks.map((t) => t.result?.headline ?? -1).filter((v) => v >= 0);
    return `**${pct(values.length ? values.reduce((a, b) => a + b, 0) / values.length : -1)}**`;
  };
  rows.push(`| **Average** | ${records.map(average).join(" | ")} |`);
  return `${head}\n${rows.join("\n")}\n`;
}

/** Options of {@link buildSite}. */
export interface SiteOptions {
  /** Build the comparison page even when runs are not comparable (the page says what differs). */
  force?: boolean;
  /** Only compare these two runs (indexes into the inputs' runs). */
  compare?: [number, number];
}

/** The file a report folder holds so that a later report may replace the folder. */
export const SITE_MARKER = ".glip-bench-report";

/**
 * Builds the site into `outDir` from run folders or records; returns the path of index.html.
 *
 * @example A report of two runs of the same benchmark (their folders hold run.json)
 * ```ts ignore
 * import { buildSite } from "./site.ts";
 * const index = await buildSite(["runs/odinw-onnx", "runs/odinw-webgpu"], "site");
 * console.log(`open ${index}`);
 * ```
 */
export async function buildSite(
  inputs: string[],
  outDir: string,
  options: SiteOptions = {},
): Promise<string> {
  return await buildSiteFromRuns(await readRuns(inputs), outDir, options);
}

/**
 * Builds the site from records already read: checks comparability first, writes every page into
 * a temporary folder beside `outDir`, and renames it into place only when all is written, so a
 * refusal or a failure leaves no partial site. An existing `outDir` is replaced only when it is
 * empty or an earlier report (it holds {@link SITE_MARKER}). Returns the path of index.html.
 */
export async function buildSiteFromRuns(
  runs: RunFile[],
  outDir: string,
  options: SiteOptions = {},
): Promise<string> {
  const records = runs.map((r) => r.record);
  let compared: RunRecord[] | undefined;
  let differences: string[] = [];
  if (records.length > 1) {
    compared = options.compare ? options.compare.map((i) => records[i]) : records;
    differences = comparabilityDifferences(compared);
    if (differences.length && !options.force) {
      throw new UsageError(
        `report: the runs are not comparable:\n  ${
          differences.join("\n  ")
        }\nPass --force to compare them anyway (the page will say what differs).`,
      );
    }
  }
  const target = resolve(outDir);
  await checkReplaceable(target);
  await Deno.mkdir(dirname(target), { recursive: true });
  const staging = await Deno.makeTempDir({
    dir: dirname(target),
    prefix: `.${basename(target)}.building-`,
  });
  try {
    await writeSite(staging, records, compared, differences);
    await Deno.writeTextFile(
      join(staging, SITE_MARKER),
      "written by glip-bench report; a later report may replace this folder\n",
    );
    await Deno.chmod(staging, 0o755).catch(() => {});
    await swapIntoPlace(staging, target);
  } catch (error) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw error;
  }
  return join(outDir, "index.html");
}

/** Refuses to replace a folder that is neither empty nor an earlier report. */
async function checkReplaceable(target: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(target);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isDirectory) {
    throw new UsageError(`report: --out ${target} exists and is not a folder`);
  }
  if (await pathExists(join(target, SITE_MARKER))) return;
  // A report written before the marker existed holds only the site's own files.
  for await (const entry of Deno.readDir(target)) {
    if (entry.isFile && SITE_FILE.test(entry.name)) continue;
    throw new UsageError(
      `report: --out ${target} holds ${
        JSON.stringify(entry.name)
      }, so it is not an earlier report (no ${SITE_MARKER}); give a new or empty folder`,
    );
  }
}

/** Names of the files a site consists of. */
const SITE_FILE = /^(?:index|compare|run-\d+)\.html$|^results\.(?:json|csv|md)$/;

/** Moves the finished site to `target`, replacing an earlier report there. */
async function swapIntoPlace(staging: string, target: string): Promise<void> {
  if (!(await pathExists(target))) {
    await Deno.rename(staging, target);
    return;
  }
  const old = `${staging}.old`;
  await Deno.rename(target, old);
  try {
    await Deno.rename(staging, target);
  } catch (error) {
    await Deno.rename(old, target).catch(() => {});
    throw error;
  }
  await Deno.remove(old, { recursive: true });
}

/** Writes every file of the site into `dir`. */
async function writeSite(
  dir: string,
  records: RunRecord[],
  compared: RunRecord[] | undefined,
  differences: string[],
): Promise<void> {
  const fileOf = (i: number) => `run-${i + 1}.html`;
  const links = (current?: string) =>
    `<nav class="note">Pages: <a href="index.html">index</a>${
      records.length > 1 ? ` · <a href="compare.html">comparison</a>` : ""
    }${
      records.map((r, i) =>
        ` · <a href="${relativeHref(fileOf(i))}"${
          current === fileOf(i) ? ' aria-current="page"' : ""
        }>${esc(runLabel(r))}</a>`
      ).join("")
    } · data: <a href="results.json">JSON</a>, <a href="results.csv">CSV</a>, <a href="results.md">Markdown</a></nav>`;
  for (const [i, record] of records.entries()) {
    await Deno.writeTextFile(
      join(dir, fileOf(i)),
      renderReportPage(`${record.suite}: ${runLabel(record)}`, [record], {
        links: links(fileOf(i)),
      }),
    );
  }
  if (compared) {
    await Deno.writeTextFile(
      join(dir, "compare.html"),
      renderReportPage(`${compared[0].suite}: comparison`, compared, {
        differences,
        links: links(),
      }),
    );
  }
  await Deno.writeTextFile(join(dir, "index.html"), leaderboardPage(records, fileOf, links()));
  await Deno.writeTextFile(
    join(dir, "results.json"),
    JSON.stringify(records.map((r) => ({ ...r, taskSpecs: undefined })), null, 2),
  );
  await Deno.writeTextFile(join(dir, "results.csv"), resultsCsv(records));
  await Deno.writeTextFile(join(dir, "results.md"), resultsMarkdown(records));
}

/**
 * The leaderboard: one row per run. AP (mean over tasks, or at the largest shot count) and
 * Flickr30K's R@1 per split are separate columns; one never stands in for the other.
 */
function leaderboardPage(
  records: RunRecord[],
  fileOf: (i: number) => string,
  links: string,
): string {
  const flickrSplits = [
    ...new Set(
      records.filter((r) => r.suite === "flickr30k").flatMap((r) => r.tasks.map((t) => t.name)),
    ),
  ];
  const hasAp = records.some((r) => r.suite !== "flickr30k");
  const valueCell = (value: number | undefined, note = "") =>
    typeof value === "number" && value >= 0
      ? `<td data-value="${esc(value)}">${esc(pct(value))}${
        note ? ` <span class="delta">${esc(note)}</span>` : ""
      }</td>`
      : `<td class="undefined">—</td>`;
  const rows = records.map((r, i) => {
    const first = headlineNumbers(r)[0];
    const ap = r.suite === "flickr30k" ? "" : valueCell(
      first?.value,
      first?.query.shots !== undefined ? `${first.query.shots}-shot` : "",
    );
    const recalls = flickrSplits.map((split) =>
      valueCell(
        r.suite === "flickr30k"
          ? r.tasks.find((t) => t.name === split)?.result?.headline
          : undefined,
      )
    ).join("");
    const parity = parityFailed(r)
      ? ` <span class="parity-failed" title="a full-size engine parity check failed: see the run's page">engine parity failed</span>`
      : "";
    return `<tr><th scope="row"><a href="${relativeHref(fileOf(i))}">${
      esc(runLabel(r))
    }</a>${parity}</th><td>${esc(r.suite)}</td><td>${esc(r.protocol)}</td>${
      hasAp ? ap || valueCell(undefined) : ""
    }${recalls}<td data-value="${esc(r.timings.imagesPerSecond)}">${
      esc(r.timings.imagesPerSecond.toFixed(2))
    }</td><td>${esc(r.tasks.length)}</td><td>${
      esc(r.createdAt.slice(0, 19).replace("T", " "))
    }</td></tr>`;
  }).join("");
  const columns = [
    "Run",
    "Suite",
    "Protocol",
    ...(hasAp ? ["AP (mean over tasks)"] : []),
    ...flickrSplits.map((split) => `Flickr30K R@1 (${split})`),
    "images/s",
    "Tasks",
    "Date",
  ];
  const body = `<header><h1>glip-bench runs</h1><p class="meta">${records.length} run(s)${
    records.some((r) => r.model.demo)
      ? " · includes demo runs (synthetic data, the trained nano demo model)"
      : ""
  }</p></header>${links}<section aria-labelledby="h-board"><h2 id="h-board">Leaderboard</h2><table class="sortable"><thead><tr>${
    columns.map((c) => `<th scope="col">${esc(c)}</th>`).join("")
  }</tr></thead><tbody>${rows}</tbody></table><p class="note">AP is COCO-style AP in percent (LVIS: FixedAP); few-shot and prompt-tuning runs show their largest shot count. Flickr30K runs are scored by Recall@1 per split, in their own columns.</p></section>`;
  return page("glip-bench runs", body, { charts: {} });
}
