/**
 * One self-contained report page: header and verdict, headline numbers, the suite table,
 * data efficiency, per-task details, engine parity, timing, provenance and citations. Tables
 * are rendered in HTML (readable without scripts and in print); charts are drawn by chart.js
 * from data embedded in the page. Nothing is requested from any network address.
 *
 * @module
 */
import type { RunRecord, TaskResult } from "../benchmarks/run_record.ts";
import { meanAndStd } from "../benchmarks/run_record.ts";
import { COCO_STAT_NAMES } from "../benchmarks/metrics/coco.ts";
import { chartJsSource, STYLES } from "./assets.ts";
import { CLIENT_SCRIPT } from "./client.ts";
import { CITATIONS, PUBLISHED_MODELS } from "./reference_numbers.ts";
import {
  comparePublished,
  type ComparisonQuery,
  type ComparisonResult,
  isMatch,
  type Match,
  readComparisonContext,
  recogniseModel,
  runExclusion,
} from "./comparison.ts";
import { cspHash, escapeHtml, jsonForScript } from "./html.ts";
import {
  isStandardOrStricter,
  PARITY_GRAPHS,
  type ParityCheck,
  parityFailed,
  worstByGraph,
} from "../benchmarks/parity_record.ts";

/** Δ of the headline number (AP, or R@1) above which engine parity is flagged. */
export const PARITY_THRESHOLD = 0.001;

const COCO_KEYS = COCO_STAT_NAMES;

const esc = escapeHtml;

const UNDEFINED_NOTE = "undefined: no ground truth in this cell (pycocotools reports -1)";

function pct(value: number | undefined | null): string {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    return `<span class="undefined" title="${UNDEFINED_NOTE}">—</span>`;
  }
  return (100 * value).toFixed(1);
}

function cell(value: number | undefined, extraClass = ""): string {
  const data = value === undefined || value < 0 ? "" : ` data-value="${esc(value)}"`;
  return `<td class="${esc(extraClass)}"${data}>${pct(value)}</td>`;
}

/** A signed difference in points, e.g. "+1.2". */
function signed(points: number): string {
  return `${points >= 0 ? "+" : ""}${points.toFixed(1)}`;
}

/** Short label of a run. */
export function runLabel(record: RunRecord): string {
  return `${record.model.name} · ${record.engine.engine}${
    record.engine.dtype && record.engine.dtype !== "fp32" ? ` (${record.engine.dtype})` : ""
  }`;
}

/** The words and numbers a page shows for the metric of its runs. */
interface MetricVocabulary {
  /** Name of the headline number. */
  headline: string;
  /** What the suite table's numbers are. */
  note: string;
  /** Columns shown on demand next to the headline. */
  extraKeys: readonly string[];
  /** The numbers of the per-task table. */
  detailKeys: readonly string[];
  detailTitle: string;
  /** Per-group bars: per category (COCO, LVIS) or per phrase type (Flickr30K). */
  groupBy: "category" | "phrase type";
}

const LVIS_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"] as const;
const FLICKR_KEYS = ["R@1", "R@5", "R@10", "R@UB"] as const;

function vocabulary(records: RunRecord[]): MetricVocabulary {
  const metric = records.flatMap((r) => r.tasks).find((t) => t.result)?.result?.metric ??
    "coco";
  if (metric === "flickr30k") {
    return {
      headline: "R@1",
      note:
        "Recall@1 of phrase grounding (percent; MDETR's evaluator, ANY-BOX, IoU ≥ 0.5 without +1)",
      extraKeys: ["R@5", "R@10", "R@UB"],
      detailKeys: FLICKR_KEYS,
      detailTitle: "Recall@k (UB: any box, the upper bound)",
      groupBy: "phrase type",
    };
  }
  if (metric === "lvis") {
    return {
      headline: "AP",
      note: "LVIS AP (FixedAP as GLIP reports it, percent)",
      extraKeys: ["AP50", "AP75", "APr", "APc", "APf"],
      detailKeys: LVIS_KEYS,
      detailTitle: "LVIS numbers",
      groupBy: "category",
    };
  }
  return {
    headline: "AP",
    note: "AP (COCO AP@[.5:.95], percent)",
    extraKeys: ["AP50", "AP75", "APs", "APm", "APl"],
    detailKeys: COCO_KEYS,
    detailTitle: "COCO numbers",
    groupBy: "category",
  };
}

/** A headline number of a run: what it is, its value (0..1) and the published-number query. */
export interface HeadlineNumber {
  /** What the number is, e.g. "R@1 (val)" or "mean AP over 13 task(s)". */
  label: string;
  /** The value, 0..1 (-1: undefined). */
  value: number;
  /** What to ask {@link comparePublished} for this number. */
  query: ComparisonQuery;
}

/** The shot count a few-shot / prompt-tuning run's headline is for (its largest). */
function headlineShots(record: RunRecord): number | "all" | undefined {
  const keys = Object.keys(record.summary.byShots ?? {});
  if (keys.length === 0) return undefined;
  const numeric = keys.map(Number).filter((k) => Number.isFinite(k));
  return numeric.length ? Math.max(...numeric) : "all";
}

/**
 * The headline numbers of a run: Flickr30K R@1 per split (never a val+test mean), the mean AP
 * over tasks (ODinW), the AP of COCO or LVIS (with APr, APc, APf), or a few-shot / prompt-tuning
 * run's mean over seeds at its largest shot count.
 */
export function headlineNumbers(record: RunRecord): HeadlineNumber[] {
  if (record.suite === "flickr30k") {
    return record.tasks.filter((t) => t.result).map((t) => ({
      label: `R@1 (${t.name})`,
      value: t.result!.headline,
      query: { task: t.name, metric: "R@1" },
    }));
  }
  const shots = headlineShots(record);
  if (shots !== undefined && record.protocol !== "zero-shot") {
    return [{
      label: `mean AP over tasks, ${shots}-shot (mean over seeds)`,
      value: record.summary.byShots![String(shots)].mean,
      query: { task: "Average", metric: "AP", shots },
    }];
  }
  if (record.suite === "coco" || record.suite === "lvis") {
    const task = record.tasks[0];
    const keys = record.suite === "lvis" ? ["AP", "APr", "APc", "APf"] : ["AP"];
    return task
      ? keys.map((metric) => ({
        label: `${metric} (${task.name})`,
        value: task.result?.named[metric] ?? -1,
        query: { task: task.name, metric },
      }))
      : [];
  }
  return [{
    label: `mean AP over ${record.tasks.length} task(s)`,
    value: record.summary.mean,
    query: { task: "Average", metric: "AP" },
  }];
}

/** One-line verdict for the header. */
export function verdict(records: RunRecord[]): string {
  if (records.length === 0) return "No runs.";
  const [base, ...others] = records;
  if (others.length === 0) {
    const numbers = headlineNumbers(base).map((h) => `${h.label} ${pct(h.value)}`).join(", ");
    return `${runLabel(base)}: ${numbers || "no result"}, ${
      base.timings.imagesPerSecond.toFixed(2)
    } images/s`;
  }
  const first = headlineNumbers(base)[0];
  return others.map((other) => {
    const mine = headlineNumbers(other).find((h) => h.label === first?.label);
    const delta = first && mine && mine.value >= 0 && first.value >= 0
      ? 100 * (mine.value - first.value)
      : NaN;
    const speed = other.timings.imagesPerSecond / Math.max(base.timings.imagesPerSecond, 1e-9);
    const who = other.model.name === base.model.name
      ? `${other.engine.engine} vs ${base.engine.engine}`
      : `${runLabel(other)} vs ${runLabel(base)}`;
    const metric = first?.query.metric ?? "AP";
    return `${who}: Δ${metric} ${Number.isNaN(delta) ? "—" : signed(delta)}, ${speed.toFixed(1)}x ${
      speed >= 1 ? "faster" : "the speed"
    }`;
  }).join("; ");
}

/** The demo banner: what the demo's data and model are. */
export const DEMO_BANNER =
  "Demo: synthetic ODinW-shaped data and the nano demo model, whose fusion and head were trained on a generated grounding corpus (its small backbones are not pre-trained). These numbers test the pipeline; they say nothing about GLIP, and no published number applies.";

function header(title: string, records: RunRecord[], differences: string[]): string {
  const first = records[0];
  const date = first ? first.createdAt.slice(0, 10) : "";
  const banner = differences.length
    ? `<div class="banner" role="alert"><strong>These runs are not directly comparable</strong> (compared with --force):<ul>${
      differences.map((d) => `<li>${esc(d)}</li>`).join("")
    }</ul></div>`
    : "";
  const parityFailures = records.filter(parityFailed);
  const parityBanner = parityFailures.length
    ? `<div class="banner" role="alert"><strong>Engine parity failed</strong> for ${
      parityFailures.map((r) => esc(runLabel(r))).join("; ")
    }: the engine's outputs differ from the reference's beyond tolerance, so these numbers may not be the model's (see Engine parity).</div>`
    : "";
  const demo = records.some((r) => r.model.demo)
    ? `<div class="banner">${esc(DEMO_BANNER)}</div>`
    : "";
  return `<header><h1>${esc(title)}</h1><p class="meta">Suite <strong>${
    esc(first?.suite ?? "")
  }</strong> · protocol <strong>${esc(first?.protocol ?? "")}</strong> · ${
    esc(date)
  } · ${records.length} run(s)</p><p class="verdict">${
    esc(verdict(records))
  }</p>${parityBanner}${banner}${demo}</header>`;
}

/** The Δ text of a match, e.g. "Δ vs published +1.2 (46.5 ± 0.3; source)". */
function deltaText(value: number, match: Match): string {
  const published = match.published;
  const delta = signed(100 * value - published.value);
  return `Δ vs published ${delta} (published ${published.value.toFixed(1)}${
    published.std !== undefined ? ` ± ${published.std.toFixed(1)}` : ""
  }; ${published.source})`;
}

/** What a page says about a run's comparison with a published number. */
function comparisonText(value: number, result: ComparisonResult): string {
  if (!isMatch(result)) return `no published number: ${result.why}`;
  return value >= 0 ? deltaText(value, result) : `no Δ: this run's value is undefined`;
}

function headline(records: RunRecord[]): string {
  const cards = records.map((r) => {
    const numbers = headlineNumbers(r).map((h) => {
      const result = comparePublished(r, h.query);
      return `<div class="value">${pct(h.value)}</div><div class="label">${
        esc(h.label)
      }</div><div class="label comparison">${esc(comparisonText(h.value, result))}</div>`;
    }).join("");
    return `<div class="card"><div class="label">${
      esc(runLabel(r))
    }</div>${numbers}<div class="label">${esc(r.timings.imagesPerSecond.toFixed(2))} images/s · ${
      esc(r.timings.wallSeconds.toFixed(1))
    } s</div></div>`;
  });
  return `<section aria-labelledby="h-headline"><h2 id="h-headline">Headline numbers</h2><div class="cards">${
    cards.join("")
  }</div>${publishedSection(records)}</section>`;
}

/** How each run's model was recognised, and the caveats or reasons of its comparisons. */
function publishedSection(records: RunRecord[]): string {
  const items = records.map((r) => {
    const excluded = runExclusion(r);
    const recognition = recogniseModel(r, readComparisonContext(r));
    const how = excluded
      ? `no published number: ${excluded}`
      : recognition.model !== undefined
      ? `compared with ${
        PUBLISHED_MODELS[recognition.model].label
      }: recognised by ${recognition.how}, ${recognition.detail}`
      : `no published model: ${recognition.why}`;
    const caveats = excluded ? [] : [
      ...new Set(
        headlineNumbers(r).flatMap((h) => {
          const result = comparePublished(r, h.query);
          return isMatch(result) ? result.caveats : [];
        }),
      ),
    ];
    return `<li>${esc(runLabel(r))}: ${esc(how)}${
      caveats.length ? `<ul>${caveats.map((c) => `<li>${esc(c)}</li>`).join("")}</ul>` : ""
    }</li>`;
  }).join("");
  return `<h3>Published numbers</h3><p class="note">A Δ is shown only against a published number measured on the same model (a released checkpoint or the paper's model), suite, tasks, split, prompt variant, protocol and shots; attributes the source does not state are listed where they were inferred.</p><ul class="note">${items}</ul>`;
}

/** Mean ± std over seeds, or "n=1" where one seed was run (a std of one value says nothing). */
function seedsCell(values: number[]): string {
  const { mean, std } = meanAndStd(values);
  const spread = values.length === 1 ? "n=1" : `± ${std.toFixed(1)}`;
  return `<td data-value="${esc(mean)}">${esc(mean.toFixed(1))} <span class="delta">${
    esc(spread)
  }</span></td>`;
}

function suiteTable(records: RunRecord[]): string {
  const taskNames = [...new Set(records.flatMap((r) => r.tasks.map((t) => t.name)))];
  const words = vocabulary(records);
  const metric = words.headline;
  // Flickr30K splits are headlines of their own: no val+test average row.
  const averaged = records.every((r) => r.suite !== "flickr30k");
  const zeroShotOf = (r: RunRecord, name: string) => r.tasks.find((t) => t.name === name)?.result;
  // The published numbers each run's zero-shot results may be compared with.
  const published = (r: RunRecord, task: string) => {
    const result = comparePublished(r, { task, metric });
    return isMatch(result) ? result : undefined;
  };
  const base = records[0];
  const publishedColumn = (name: string) => (base ? published(base, name) : undefined);
  const hasReference = [...taskNames, "Average"].some((name) => publishedColumn(name));
  const extraKeys = words.extraKeys;
  const shotColumns = [
    ...new Set(
      records.flatMap((r) => r.tasks.flatMap((t) => (t.cells ?? []).map((c) => String(c.shots)))),
    ),
  ];
  const shotCells = (record: RunRecord, name: string) =>
    shotColumns.map((shots) => {
      const cells = (record.tasks.find((t) => t.name === name)?.cells ?? []).filter((c) =>
        String(c.shots) === shots
      );
      return cells.length === 0
        ? `<td class="undefined">—</td>`
        : seedsCell(cells.map((c) => 100 * c.test.headline));
    }).join("");
  const head = `<tr><th scope="col">Task</th>${
    records.map((r) =>
      `<th scope="col">${esc(runLabel(r))}${shotColumns.length ? " (0-shot)" : ""}</th>${
        extraKeys.map((k) => `<th scope="col" class="extra">${esc(k)}</th>`).join("")
      }`
    ).join("")
  }${
    records.map((r) =>
      shotColumns.map((k) => `<th scope="col">${esc(runLabel(r))} ${esc(k)}-shot</th>`).join("")
    ).join("")
  }${hasReference ? `<th scope="col">Published</th>` : ""}</tr>`;
  const valueCell = (r: RunRecord, i: number, name: string, value: number | undefined) => {
    const match = published(r, name);
    const against = match
      ? match.published.value / 100
      : i > 0
      ? (name === "Average" ? zeroShotMean(base) : zeroShotOf(base, name)?.headline)
      : undefined;
    let cls = "";
    let note = "";
    if (
      typeof value === "number" && value >= 0 && typeof against === "number" && against >= 0
    ) {
      const delta = 100 * (value - against);
      cls = delta > 0.05 ? "up" : delta < -0.05 ? "down" : "";
      note = `Δ ${signed(delta)} vs ${match ? "published" : "first run"}`;
    }
    return `<td class="${cls}"${
      typeof value === "number" && value >= 0 ? ` data-value="${esc(value)}"` : ""
    }${note ? ` title="${esc(note)}"` : ""}>${pct(value)}${
      note ? ` <span class="delta">(${esc(note.slice(2, note.indexOf(" vs")))})</span>` : ""
    }</td>`;
  };
  const rows = taskNames.map((name) => {
    const cells = records.map((r, i) => {
      const result = zeroShotOf(r, name);
      return valueCell(r, i, name, result?.headline) +
        extraKeys.map((k) => cell(result?.named[k], "extra")).join("");
    }).join("");
    const reference = publishedColumn(name)?.published.value;
    return `<tr><th scope="row">${esc(name)}</th>${cells}${
      records.map((r) => shotCells(r, name)).join("")
    }${hasReference ? cell(reference === undefined ? undefined : reference / 100) : ""}</tr>`;
  }).join("");
  const shotAverages = (r: RunRecord) =>
    shotColumns.map((k) => {
      const v = r.summary.byShots?.[k];
      if (!v) return `<td class="undefined">—</td>`;
      const seeds = new Set(
        r.tasks.flatMap((t) => (t.cells ?? []).filter((c) => String(c.shots) === k)).map((c) =>
          c.seed
        ),
      );
      const spread = seeds.size === 1 ? "n=1" : `± ${(100 * v.std).toFixed(1)}`;
      return `<td data-value="${esc(v.mean)}">${pct(v.mean)} <span class="delta">${
        esc(spread)
      }</span></td>`;
    }).join("");
  const averageReference = publishedColumn("Average")?.published.value;
  const average = averaged
    ? `<tr class="average"><th scope="row">Average</th>${
      records.map((r, i) =>
        valueCell(r, i, "Average", shotColumns.length ? zeroShotMean(r) : r.summary.mean) +
        extraKeys.map(() => `<td class="extra"></td>`).join("")
      ).join("")
    }${records.map(shotAverages).join("")}${
      hasReference ? cell(averageReference === undefined ? undefined : averageReference / 100) : ""
    }</tr>`
    : "";
  return `<section aria-labelledby="h-suite"><h2 id="h-suite">Results by task</h2><p class="note">${
    esc(words.note)
  }. Cells are coloured by Δ against the published number where one matches the run (see "Published numbers"), else against the first run; the Δ is also written, so colour is not the only signal.${
    averaged ? "" : " Flickr30K splits are reported each on its own, never averaged."
  } <label class="toggle"><input type="checkbox" data-toggle-extra="suite-table"> show ${
    esc(extraKeys.join(", "))
  } columns</label></p><table id="suite-table" class="sortable"><thead>${head}</thead><tbody>${rows}${average}</tbody></table></section>`;
}

/** Mean over tasks of the zero-shot results (undefined cells excluded); -1 when none. */
function zeroShotMean(r: RunRecord): number {
  const values = r.tasks.map((t) => t.result?.headline ?? -1).filter((v) => v >= 0);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : -1;
}

interface ChartSpec {
  type: "line" | "bar";
  title: string;
  labels: (string | number)[];
  series: { label: string; data: (number | null)[]; band?: number[] }[];
  xLabel?: string;
  yLabel?: string;
  horizontal?: boolean;
  suggestedMax?: number;
}

function chart(
  id: string,
  spec: ChartSpec,
  charts: Record<string, ChartSpec>,
  wide = false,
): string {
  charts[id] = spec;
  const alt = `${spec.title}: ${
    spec.series.map((s) =>
      `${s.label} ${s.data.map((v) => (v === null ? "—" : v.toFixed(1))).join(", ")}`
    ).join("; ")
  }`;
  return `<div class="chart${wide ? " wide" : ""}"><canvas id="${id}" role="img" aria-label="${
    esc(alt.slice(0, 600))
  }">${esc(alt)}</canvas></div>`;
}

const SHOTS = ["0", "1", "3", "5", "10", "all"];

/**
 * A run's curve label: adapted runs add their protocol (prompt tuning, full tuning and linear
 * probing of one model are drawn together) and GLIP's prepared k-shot files when they were used.
 */
function adaptationLabel(record: RunRecord): string {
  if (record.protocol === "zero-shot") return runLabel(record);
  const prepared = record.settings.fewShotSource === "prepared" ? ", prepared k-shot files" : "";
  return `${runLabel(record)} · ${record.protocol}${prepared}`;
}

function efficiency(records: RunRecord[], charts: Record<string, ChartSpec>): string {
  // 0-shot: the zero-shot results; k shots: for each seed the average over tasks, then mean and
  // std over seeds (as the paper's ± std).
  const seriesFor = (record: RunRecord) => {
    const values = SHOTS.map((shots) => {
      if (shots === "0") {
        const results = record.tasks.map((t) => t.result?.headline ?? -1).filter((v) => v >= 0);
        return results.length
          ? { mean: (100 * results.reduce((a, b) => a + b, 0)) / results.length, std: 0 }
          : null;
      }
      const cells = record.tasks.flatMap((t) =>
        (t.cells ?? []).filter((c) => String(c.shots) === shots)
      );
      const seeds = [...new Set(cells.map((c) => c.seed))];
      if (seeds.length === 0) return null;
      const averages = seeds.map((seed) => {
        const values = record.tasks.map((t) =>
          t.cells?.find((c) => String(c.shots) === shots && c.seed === seed)?.test.headline ?? -1
        )
          .filter((v) => v >= 0);
        return (100 * values.reduce((a, b) => a + b, 0)) / Math.max(values.length, 1);
      });
      return meanAndStd(averages);
    });
    return {
      label: adaptationLabel(record),
      data: values.map((v) => (v ? v.mean : null)),
      band: values.map((v) => (v ? v.std : 0)),
    };
  };
  const series = records.map((r) => seriesFor(r));
  for (const record of records) {
    if (record.protocol === "zero-shot") continue;
    const points = SHOTS.map((shots) =>
      comparePublished(record, {
        task: "Average",
        metric: "AP",
        ...(shots === "0" ? {} : { shots: shots === "all" ? "all" : Number(shots) }),
      })
    );
    const matched = points.filter(isMatch);
    if (matched.length === 0) continue;
    const label = `published: ${
      PUBLISHED_MODELS[matched[0].recognition.model].label
    }, ${record.protocol}`;
    if (series.some((s) => s.label === label)) continue;
    series.push({
      label,
      data: points.map((p) => (isMatch(p) ? p.published.value : null)),
      band: points.map((p) => (isMatch(p) ? p.published.std ?? 0 : 0)),
    });
  }
  const adapted = records.some((r) => r.tasks.some((t) => (t.cells ?? []).length > 0));
  const note = adapted
    ? "Mean over seeds with a ±std band (population std, as numpy's default)."
    : "These runs are zero-shot only: the curve has its 0-shot point. Run the few-shot or prompt-tuning protocol to fill it.";
  return `<section aria-labelledby="h-efficiency"><h2 id="h-efficiency">Data efficiency</h2><p class="note">${note}</p>${
    chart(
      "chart-efficiency",
      {
        type: "line",
        title: `${vocabulary(records).headline} vs shots (average over tasks)`,
        labels: SHOTS,
        series,
        xLabel: "shots per category",
        yLabel: vocabulary(records).headline,
      },
      charts,
      true,
    )
  }${shotComparisons(records)}</section>`;
}

/** Per shot count of each adapted run: its mean over seeds against the published number, or why none. */
function shotComparisons(records: RunRecord[]): string {
  const items = records.flatMap((r) => {
    if (r.protocol === "zero-shot") return [];
    return Object.entries(r.summary.byShots ?? {}).map(([key, { mean }]) => {
      const shots = key === "all" ? "all" as const : Number(key);
      const result = comparePublished(r, { task: "Average", metric: "AP", shots });
      return `<li>${esc(adaptationLabel(r))}, ${
        esc(key === "all" ? "full data" : `${key}-shot`)
      }: ${pct(mean)} · ${esc(comparisonText(mean, result))}</li>`;
    });
  });
  return items.length
    ? `<h3>Against published few-shot and prompt-tuning numbers</h3><ul class="note">${
      items.join("")
    }</ul>`
    : "";
}

function taskDetails(records: RunRecord[], charts: Record<string, ChartSpec>): string {
  const names = [...new Set(records.flatMap((r) => r.tasks.map((t) => t.name)))];
  const words = vocabulary(records);
  const blocks = names.map((name, n) => {
    const perRun = records.map((r) => r.tasks.find((t) => t.name === name));
    const first = perRun.find((t) => t);
    const numbers = `<table><thead><tr><th scope="col">Run</th>${
      words.detailKeys.map((k) => `<th scope="col">${esc(k)}</th>`).join("")
    }</tr></thead><tbody>${
      perRun.map((t, i) =>
        `<tr><th scope="row">${esc(runLabel(records[i]))}</th>${
          words.detailKeys.map((k) => cell(t?.result?.named[k])).join("")
        }</tr>`
      ).join("")
    }</tbody></table>`;
    const types = [
      ...new Set(perRun.flatMap((t) => Object.keys(t?.result?.byType ?? {}))),
    ].sort();
    const bars = words.groupBy === "phrase type"
      ? chart(`chart-cat-${n}`, {
        type: "bar",
        title: `${name}: ${words.headline} per phrase type`,
        labels: types,
        series: perRun.map((t, i) => ({
          label: runLabel(records[i]),
          data: types.map((type) => {
            const v = t?.result?.byType?.[type]?.[words.headline];
            return v === undefined || v < 0 ? null : 100 * v;
          }),
        })),
        yLabel: words.headline,
      }, charts)
      : categoryBars(name, n, perRun, records, charts);
    const hasCurves = perRun.some((t) => t?.result?.prCurves);
    const recallPoints = Array.from({ length: 101 }, (_, i) => (i / 100).toFixed(2));
    const pr = !hasCurves ? "" : chart(`chart-pr-${n}`, {
      type: "line",
      title: `${name}: precision-recall (IoU .5 and .5:.95)`,
      labels: recallPoints,
      series: perRun.flatMap((t, i) => [
        {
          label: `${runLabel(records[i])} IoU .5`,
          data: (t?.result?.prCurves?.iou50 ?? []).map((v) => (v < 0 ? null : v)),
        },
        {
          label: `${runLabel(records[i])} IoU .5:.95`,
          data: (t?.result?.prCurves?.iou50to95 ?? []).map((v) => (v < 0 ? null : v)),
        },
      ]),
      xLabel: "recall",
      yLabel: "precision",
      suggestedMax: 1,
    }, charts);
    const prompts = (first?.prompts ?? []).map((p) =>
      `<pre class="prompt">${esc(p.query)}</pre><p class="note">prompt sha256 ${
        esc(p.hash.slice(0, 16))
      }…${
        p.droppedLabels.length
          ? `; labels with no token (never detected, as in GLIP): ${
            esc(p.droppedLabels.join(", "))
          }`
          : ""
      }</p>`
    ).join("");
    const card = first?.card
      ? `<p>${esc(first.card.summary)}</p>${
        (first.card.quirks ?? []).map((q) => `<p class="note">Quirk: ${esc(q)}</p>`).join("")
      }`
      : "";
    return `<details${n === 0 ? " open" : ""}><summary>${esc(name)} — ${esc(first?.split ?? "")}, ${
      esc(first?.images ?? 0)
    } images, ${
      esc(first?.annotations ?? 0)
    } boxes</summary>${card}<h3>${words.detailTitle}</h3>${numbers}<div class="charts">${bars}${pr}</div><h3>Exact prompt</h3>${prompts}</details>`;
  });
  return `<section aria-labelledby="h-tasks"><h2 id="h-tasks">Per task</h2>${
    blocks.join("")
  }</section>`;
}

function categoryBars(
  name: string,
  n: number,
  perRun: (TaskResult | undefined)[],
  records: RunRecord[],
  charts: Record<string, ChartSpec>,
): string {
  const categories = perRun.find((t) => t)?.categories ?? [];
  return chart(`chart-cat-${n}`, {
    type: "bar",
    title: `${name}: AP per category`,
    labels: categories.map((c) => c.name.trim() || `(id ${c.id})`),
    series: perRun.map((t, i) => ({
      label: runLabel(records[i]),
      data: categories.map((c) => {
        const v = t?.result?.perCategory?.[String(c.id)]?.AP;
        return v === undefined || v < 0 ? null : 100 * v;
      }),
    })),
    yLabel: "AP",
    horizontal: categories.length > 12,
  }, charts);
}

/** A scaled error for a parity table: "1.2e-5", "none finite" or "—". */
function scaledErrorText(value: number | null | undefined): string {
  if (value === undefined) return "—";
  return value === null ? "no finite value" : value.toExponential(1);
}

/** The verdict of one recorded parity check: its text and whether it is flagged. */
export function parityVerdict(check: ParityCheck): { text: string; flagged: boolean } {
  if (check.role === "reference") return { text: "reference itself", flagged: false };
  if (!check.ok) return { text: "✗ FAIL", flagged: true };
  if (!isStandardOrStricter(check.tolerance!, check.dtype)) {
    return { text: "⚠ pass at a tolerance looser than the standard", flagged: true };
  }
  return { text: "✓ pass", flagged: false };
}

/** One row per recorded full-size parity check; "not checked at full size" for a run without. */
function fullSizeParity(records: RunRecord[]): string {
  const rows = records.map((r) => {
    const checks = r.engineParity ?? [];
    if (checks.length === 0) {
      const cpuReference = r.engine.engine === "onnx" && r.engine.executionProvider === "cpu" &&
        (r.engine.dtype ?? "fp32") === "fp32";
      return `<tr><th scope="row">${esc(runLabel(r))}</th><td colspan="10" class="${
        cpuReference ? "" : "flag"
      }">${
        cpuReference
          ? "the reference engine itself (onnxruntime-node CPU, fp32); not checked at full size"
          : "not checked at full size (bench --check-parity)"
      }</td></tr>`;
    }
    return checks.map((check) => {
      const { text, flagged } = parityVerdict(check);
      const worst = worstByGraph(check);
      const graphCells = PARITY_GRAPHS.map((graph) =>
        `<td>${
          check.role === "reference"
            ? "—"
            : check.notExposed.includes(graph as "text" | "image")
            ? "not exposed (checked through the head)"
            : esc(scaledErrorText(worst[graph]))
        }</td>`
      ).join("");
      const d = check.detections;
      const versions = Object.entries(check.libraries).map(([k, v]) => `${k} ${v}`).join(", ");
      const referenceVersions = Object.entries(check.reference.libraries).map(([k, v]) =>
        `${k} ${v}`
      ).join(", ");
      return `<tr><th scope="row">${esc(runLabel(r))}${
        check.shard ? ` <span class="delta">shard ${esc(check.shard)}</span>` : ""
      }</th><td>${esc(check.engine)} (${esc(check.executionProvider)}) vs ${
        esc(check.reference.description)
      }</td><td>${esc(check.size.height)}x${esc(check.size.width)}</td><td>${
        esc(check.dtype)
      }</td>${graphCells}<td>${
        d ? `${esc(d.matched)}/${esc(d.top)} (${esc(d.required)} required)` : "—"
      }</td><td>${
        check.tolerance
          ? `${esc(check.tolerance.relative)} × max + ${esc(check.tolerance.absolute)}`
          : "—"
      }</td><td>${esc(check.checkedAt.slice(0, 19).replace("T", " "))}; ${esc(versions)}${
        check.role === "checked" ? `; reference ${esc(referenceVersions)}` : ""
      }; ${esc(check.seconds.toFixed(1))} s</td><td class="${flagged ? "flag" : ""}">${
        esc(text)
      }</td></tr>`;
    }).join("");
  }).join("");
  const failures = records.flatMap((r) =>
    (r.engineParity ?? []).filter((c) => !c.ok).map((c) =>
      `<li>${esc(runLabel(r))}, ${esc(c.engine)} ${esc(c.dtype)} at ${esc(c.size.height)}x${
        esc(c.size.width)
      }:<ul>${c.failures.map((f) => `<li>${esc(f)}</li>`).join("")}</ul></li>`
    )
  );
  return `<h3>Full-size parity with the reference</h3><p class="note">bench --check-parity: the run's bundle on its engine at a full network input size, every text, image and head output compared with onnxruntime-node on the CPU (fp32; fp16 engines at the fp16 tolerance), and the detections compared as sets. Errors are the worst output's max abs error over the reference's largest magnitude, per model part.</p><table class="sortable"><thead><tr>${
    [
      "Run",
      "Engine vs reference",
      "Size",
      "dtype",
      "text err",
      "image err",
      "head err",
      "top detections matched",
      "tolerance",
      "checked; versions; time",
      "verdict",
    ].map((c) => `<th scope="col">${esc(c)}</th>`).join("")
  }</tr></thead><tbody>${rows}</tbody></table>${
    failures.length ? `<p>Failed checks:</p><ul>${failures.join("")}</ul>` : ""
  }`;
}

/** The engine-parity section: recorded full-size checks, then headline numbers across engines. */
function parity(records: RunRecord[]): string {
  return `<section aria-labelledby="h-parity"><h2 id="h-parity">Engine parity</h2>${
    fullSizeParity(records)
  }${headlineParity(records)}</section>`;
}

/** The headline number of each task across engines that ran the same bundle. */
function headlineParity(records: RunRecord[]): string {
  const pairs: [RunRecord, RunRecord][] = [];
  for (let i = 0; i < records.length; i++) {
    for (let j = i + 1; j < records.length; j++) {
      if (
        records[i].model.bundleSha256 === records[j].model.bundleSha256 &&
        records[i].engine.engine !== records[j].engine.engine
      ) pairs.push([records[i], records[j]]);
    }
  }
  if (pairs.length === 0) return "";
  const tables = pairs.map(([a, b]) => {
    const rows = a.tasks.map((task) => {
      const other = b.tasks.find((t) => t.name === task.name);
      const delta = task.result && other?.result
        ? other.result.headline - task.result.headline
        : NaN;
      const flagged = Math.abs(delta) > PARITY_THRESHOLD;
      return `<tr><th scope="row">${esc(task.name)}</th>${cell(task.result?.headline)}${
        cell(other?.result?.headline)
      }<td class="${flagged ? "flag" : ""}" data-value="${esc(delta)}">${
        Number.isNaN(delta)
          ? "—"
          : `${(100 * delta).toFixed(2)}${flagged ? " ⚠ above threshold" : " ✓"}`
      }</td></tr>`;
    }).join("");
    return `<h3>${esc(b.engine.engine)} vs ${esc(a.engine.engine)} (${
      esc(a.model.name)
    })</h3><table class="sortable"><thead><tr><th scope="col">Task</th><th scope="col">${
      esc(a.engine.engine)
    }</th><th scope="col">${esc(b.engine.engine)}</th><th scope="col">Δ${
      esc(a.summary.metric.split(" ")[0])
    }</th></tr></thead><tbody>${rows}</tbody></table>`;
  });
  return `<h3>Headline numbers across engines</h3><p class="note">Same model bundle on different engines. |Δ| of the headline number above ${
    100 * PARITY_THRESHOLD
  } points is flagged.</p>${tables.join("")}`;
}

function timing(records: RunRecord[], charts: Record<string, ChartSpec>): string {
  const stages = [...new Set(records.flatMap((r) => Object.keys(r.timings.stages)))];
  const rows = records.map((r) =>
    `<tr><th scope="row">${esc(runLabel(r))}</th>${
      stages.map((s) => {
        const t = r.timings.stages[s];
        return t
          ? `<td>${t.p50Ms.toFixed(1)} / ${t.p90Ms.toFixed(1)} <span class="delta">×${
            esc(t.count)
          }</span></td>`
          : "<td>—</td>";
      }).join("")
    }<td>${r.timings.imagesPerSecond.toFixed(2)}</td><td>${
      (r.timings.peakRssBytes / 2 ** 20).toFixed(0)
    } MiB</td></tr>`
  ).join("");
  const hardware = records.map((r) =>
    `<li>${esc(runLabel(r))}: ${esc(r.engine.device)}, ${esc(r.engine.executionProvider)}, ${
      esc(r.provenance.machine.cpus)
    } CPUs, ${(r.provenance.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${
      esc(r.provenance.machine.os)
    }/${esc(r.provenance.machine.arch)}</li>`
  ).join("");
  const bar = chart("chart-throughput", {
    type: "bar",
    title: "Throughput (images per second)",
    labels: records.map(runLabel),
    series: [{ label: "images/s", data: records.map((r) => r.timings.imagesPerSecond) }],
    yLabel: "images/s",
  }, charts);
  const latency = chart("chart-latency", {
    type: "bar",
    title: "Median latency per stage (ms)",
    labels: stages,
    series: records.map((r) => ({
      label: runLabel(r),
      data: stages.map((s) => r.timings.stages[s]?.p50Ms ?? null),
    })),
    yLabel: "ms",
  }, charts);
  return `<section aria-labelledby="h-timing"><h2 id="h-timing">Timing</h2><p class="note">Latency p50 / p90 in milliseconds per invocation (×count), warm-up included in the first call.</p><table class="sortable"><thead><tr><th scope="col">Run</th>${
    stages.map((s) => `<th scope="col">${esc(s)}</th>`).join("")
  }<th scope="col">images/s</th><th scope="col">peak memory</th></tr></thead><tbody>${rows}</tbody></table><div class="charts">${bar}${latency}</div><ul>${hardware}</ul></section>`;
}

function provenance(records: RunRecord[]): string {
  const facts = records.map((r) => ({
    id: r.id,
    model: r.model,
    engine: r.engine,
    settings: r.settings,
    provenance: r.provenance,
    invocations: r.invocations,
  }));
  const datasets = new Set(records.flatMap((r) => r.tasks.map((t) => t.dataset)));
  const cites = ["glip", ...[...datasets].filter((d) => Object.hasOwn(CITATIONS, d))].map((k) =>
    `<li>${esc(CITATIONS[k])}</li>`
  ).join("");
  return `<section aria-labelledby="h-provenance"><h2 id="h-provenance">Provenance</h2><p><button id="copy-provenance" type="button">Copy JSON</button></p><pre id="provenance">${
    esc(JSON.stringify(facts, null, 2))
  }</pre><h2>Citations</h2><ul>${cites}</ul></section>`;
}

/** Renders a run or comparison page. */
export function renderReportPage(
  title: string,
  records: RunRecord[],
  options: { differences?: string[]; links?: string } = {},
): string {
  const charts: Record<string, ChartSpec> = {};
  const body = [
    header(title, records, options.differences ?? []),
    options.links ?? "",
    headline(records),
    suiteTable(records),
    efficiency(records, charts),
    taskDetails(records, charts),
    parity(records),
    timing(records, charts),
    provenance(records),
  ].join("\n");
  return page(title, body, { charts });
}

let policy: string | undefined;

/**
 * The Content-Security-Policy of every page: nothing may load from anywhere, and the only
 * scripts and styles that run are the ones shipped here, allowed by their sha256 (no
 * 'unsafe-inline', so markup that reaches a page from a record can neither run nor style).
 */
export function contentSecurityPolicy(): string {
  policy ??= [
    "default-src 'none'",
    `script-src ${cspHash(chartJsSource())} ${cspHash(CLIENT_SCRIPT)}`,
    `style-src ${cspHash(STYLES)}`,
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  return policy;
}

/**
 * Wraps a body into a self-contained HTML document. `body` must already be escaped HTML; `title`
 * is escaped here; `data` goes into a JSON block that no string in it can close.
 */
export function page(title: string, body: string, data: Record<string, unknown>): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${esc(contentSecurityPolicy())}">
<meta name="referrer" content="no-referrer">
<title>${esc(title)}</title><style>${STYLES}</style></head>
<body>
${body}
<pre id="selfcheck" hidden></pre>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${chartJsSource()}</script>
<script>${CLIENT_SCRIPT}</script>
</body></html>
`;
}
