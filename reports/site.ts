/**
 * A static site from run records: `index.html` (a leaderboard of every run), one page per run,
 * one comparison page, and the data beside them as JSON, CSV and Markdown.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import { readRunRecord, type RunRecord } from "../benchmarks/run_record.ts";
import { page, renderReportPage, runLabel } from "./page.ts";
import { comparabilityDifferences } from "./compare.ts";
import { COCO_STAT_NAMES } from "../benchmarks/metrics/coco.ts";

/** Reads run records from run folders (`run.json` inside) or record files. */
export async function readRuns(inputs: string[]): Promise<{ path: string; record: RunRecord }[]> {
  const runs = [];
  for (const input of inputs) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(input);
    } catch {
      throw new UsageError(`report: ${input} does not exist (give run folders or run.json files)`);
    }
    if (info.isFile) {
      runs.push({ path: input, record: await readRunRecord(input) });
      continue;
    }
    const direct = join(input, "run.json");
    try {
      await Deno.stat(direct);
      runs.push({ path: direct, record: await readRunRecord(direct) });
      continue;
    } catch {
      // a matrix run: one sub-folder per combination
    }
    const found = [];
    for await (const entry of Deno.readDir(input)) {
      if (!entry.isDirectory) continue;
      try {
        await Deno.stat(join(input, entry.name, "run.json"));
        found.push(join(input, entry.name, "run.json"));
      } catch {
        // not a run folder
      }
    }
    if (found.length === 0) {
      throw new UsageError(`report: no run.json in ${input} or its sub-folders`);
    }
    for (const path of found.sort()) runs.push({ path, record: await readRunRecord(path) });
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
    const s = String(value);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [
    ["run", "suite", "protocol", "model", "engine", "task", "split", ...keys].join(","),
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
          ...keys.map((k) => String(t.result?.named[k] ?? "")),
        ].map(quote).join(","),
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** A Markdown table of task AP per run. */
export function resultsMarkdown(records: RunRecord[]): string {
  const tasks = [...new Set(records.flatMap((r) => r.tasks.map((t) => t.name)))];
  const head = `| Task | ${records.map(runLabel).join(" | ")} |\n|---|${
    records.map(() => "---:").join("|")
  }|`;
  const rows = tasks.map((name) =>
    `| ${name} | ${
      records.map((r) => pct(r.tasks.find((t) => t.name === name)?.result?.headline)).join(" | ")
    } |`
  );
  rows.push(`| **Average** | ${records.map((r) => `**${pct(r.summary.mean)}**`).join(" | ")} |`);
  return `${head}\n${rows.join("\n")}\n`;
}

/** Options of {@link buildSite}. */
export interface SiteOptions {
  /** Build the comparison page even when runs are not comparable (the page says what differs). */
  force?: boolean;
  /** Only compare these two runs (indexes into the inputs' runs). */
  compare?: [number, number];
}

/** Builds the site into `outDir`; returns the path of index.html. */
export async function buildSite(
  inputs: string[],
  outDir: string,
  options: SiteOptions = {},
): Promise<string> {
  const runs = await readRuns(inputs);
  await Deno.mkdir(outDir, { recursive: true });
  const records = runs.map((r) => r.record);
  const fileOf = (i: number) => `run-${i + 1}.html`;
  const links = (current?: string) =>
    `<nav class="note">Pages: <a href="index.html">index</a>${
      records.length > 1 ? ` · <a href="compare.html">comparison</a>` : ""
    }${
      records.map((r, i) =>
        ` · <a href="${fileOf(i)}"${current === fileOf(i) ? ' aria-current="page"' : ""}>${
          runLabel(r)
        }</a>`
      ).join("")
    } · data: <a href="results.json">JSON</a>, <a href="results.csv">CSV</a>, <a href="results.md">Markdown</a></nav>`;
  for (const [i, record] of records.entries()) {
    await Deno.writeTextFile(
      join(outDir, fileOf(i)),
      renderReportPage(`${record.suite}: ${runLabel(record)}`, [record], {
        links: links(fileOf(i)),
      }),
    );
  }
  if (records.length > 1) {
    const chosen = options.compare ? options.compare.map((i) => records[i]) : records;
    const differences = comparabilityDifferences(chosen);
    if (differences.length && !options.force) {
      throw new UsageError(
        `report: the runs are not comparable:\n  ${
          differences.join("\n  ")
        }\nPass --force to compare them anyway (the page will say what differs).`,
      );
    }
    await Deno.writeTextFile(
      join(outDir, "compare.html"),
      renderReportPage(`${chosen[0].suite}: comparison`, chosen, { differences, links: links() }),
    );
  }
  const rows = records.map((r, i) =>
    `<tr><th scope="row"><a href="${fileOf(i)}">${
      runLabel(r)
    }</a></th><td>${r.suite}</td><td>${r.protocol}</td><td data-value="${r.summary.mean}">${
      pct(r.summary.mean)
    }</td><td data-value="${r.timings.imagesPerSecond}">${
      r.timings.imagesPerSecond.toFixed(2)
    }</td><td>${r.tasks.length}</td><td>${r.createdAt.slice(0, 19).replace("T", " ")}</td></tr>`
  ).join("");
  const body = `<header><h1>glip-bench runs</h1><p class="meta">${records.length} run(s)${
    records.some((r) => r.model.demo)
      ? " · includes demo runs (synthetic data, random nano model)"
      : ""
  }</p></header>${links()}<section aria-labelledby="h-board"><h2 id="h-board">Leaderboard</h2><table class="sortable"><thead><tr><th scope="col">Run</th><th scope="col">Suite</th><th scope="col">Protocol</th><th scope="col">Mean AP</th><th scope="col">images/s</th><th scope="col">Tasks</th><th scope="col">Date</th></tr></thead><tbody>${rows}</tbody></table></section>`;
  await Deno.writeTextFile(
    join(outDir, "index.html"),
    page("glip-bench runs", body, { charts: {} }),
  );
  await Deno.writeTextFile(
    join(outDir, "results.json"),
    JSON.stringify(records.map((r) => ({ ...r, taskSpecs: undefined })), null, 2),
  );
  await Deno.writeTextFile(join(outDir, "results.csv"), resultsCsv(records));
  await Deno.writeTextFile(join(outDir, "results.md"), resultsMarkdown(records));
  return join(outDir, "index.html");
}
