/**
 * `deno task perf:report`: builds an ODinW-13 report of three runs (the report tests' fixtures)
 * and prints each page's size and its render time in headless Chromium (targets: under 1.5 MB
 * and under 2 s).
 * @module
 */
import { join } from "node:path";
import { buildSite } from "../reports/site.ts";
import { demoRecord, variant, writeRuns } from "../tests/reports/fixtures.ts";
import { chromiumAvailable, renderPage } from "../tests/reports/chromium.ts";

const base = await demoRecord();
const runs = await writeRuns([
  variant(base, "onnx", 0, { fewShot: true }),
  variant(base, "webgpu", 1, { fewShot: true }),
  variant(base, "wasm", 2, { fewShot: true }),
]);
const out = await Deno.makeTempDir({ prefix: "perf-report-" });
const started = performance.now();
await buildSite(runs, out);
console.log(
  `built the site (3 runs x 13 tasks) in ${((performance.now() - started) / 1000).toFixed(2)} s`,
);
for (const page of ["index.html", "compare.html", "run-1.html"]) {
  const file = join(out, page);
  const size = (await Deno.stat(file)).size;
  let render = "Chromium not installed";
  if (chromiumAvailable()) {
    const { check } = await renderPage(file, join(out, `${page}.png`));
    render = `rendered in ${check.renderMs} ms (page script done), ${check.canvases} charts`;
  }
  console.log(`${page.padEnd(13)} ${(size / 2 ** 20).toFixed(2)} MB (limit 1.5), ${render}`);
}
