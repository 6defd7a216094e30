/**
 * Assets inlined into every report page: chart.js (pinned in deno.json, read from the installed
 * npm package) and the stylesheet (screen and print).
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

let chartSource: string | undefined;

/** chart.js's UMD build, to inline in a <script>. */
export function chartJsSource(): string {
  if (chartSource) return chartSource;
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve("chart.js");
  } catch (error) {
    throw new Error(`chart.js is not installed (${(error as Error).message}); run 'deno install'`);
  }
  chartSource = Deno.readTextFileSync(join(dirname(main), "chart.umd.min.js"));
  return chartSource;
}

/** The report stylesheet. */
export const STYLES = `
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #ffffff; --accent: #0969da;
  --good: #1a7f37; --bad: #cf222e; --goodbg: #dafbe1; --badbg: #ffebe9; --flag: #9a6700; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; max-width: 1180px; padding: 24px 28px 64px; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.25em; margin: 36px 0 10px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 1.05em; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 0 0 8px; } .verdict { font-size: 1.15em; font-weight: 600; margin: 8px 0 0; }
.banner { border: 1px solid var(--flag); background: #fff8c5; padding: 10px 14px; border-radius: 6px; margin: 14px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 180px; }
.card .value { font-size: 1.6em; font-weight: 650; } .card .label { color: var(--muted); font-size: .85em; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f6f8fa; cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
tbody th { background: none; font-weight: 600; cursor: default; }
tr.average td, tr.average th { font-weight: 650; border-top: 2px solid var(--fg); }
td.up { background: var(--goodbg); } td.down { background: var(--badbg); } .delta { color: var(--muted); font-size: .85em; }
td.flag { color: var(--bad); font-weight: 650; }
.parity-failed { color: var(--bad); font-weight: 650; font-size: .85em; }
.undefined { color: var(--muted); cursor: help; }
details { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; } .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.chart { position: relative; height: 260px; } .chart.wide { grid-column: 1 / -1; height: 300px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88em; }
pre { background: #f6f8fa; padding: 10px; border-radius: 6px; overflow: auto; max-height: 360px; }
.prompt { white-space: pre-wrap; word-break: break-word; }
button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: #f6f8fa; cursor: pointer; }
label.toggle { color: var(--muted); font-size: .9em; margin-left: 12px; }
table .extra { display: none; } table.show-extra .extra { display: table-cell; }
a { color: var(--accent); } .note { color: var(--muted); font-size: .9em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; } details { border: none; } details > summary { list-style: none; }
  details:not([open]) > *:not(summary) { display: block; } button, label.toggle { display: none; }
  .chart { break-inside: avoid; } h2 { break-after: avoid; } pre { max-height: none; }
}
`;
