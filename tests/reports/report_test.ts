import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, runCli } from "../cli_helpers.ts";
import { demoRecord, variant, writeRuns } from "./fixtures.ts";
import { makeRecord } from "./records.ts";
import { chromiumAvailable, renderPage } from "./chromium.ts";
import { verdict } from "../../reports/page.ts";
import { withTestDir } from "../temp_dir.ts";

const withReportDir = (fn: (root: string) => Promise<void>) =>
  withTestDir(fn, { prefix: "report-test-" });

const ARTIFACTS = fileURLToPath(new URL("test-artifacts/", ROOT));
const skipBrowser = !chromiumAvailable() && !Deno.env.get("CI");
if (skipBrowser) {
  console.log("report browser tests skipped: /usr/bin/chromium is missing (run scripts/setup.sh)");
}

/** Runs `fn` with a temporary folder that is removed afterwards. */
Deno.test({
  name:
    "report pages render in headless Chromium: no script errors, no network requests, every chart drawn",
  ignore: skipBrowser,
  fn: () =>
    withReportDir(async (root) => {
      const base = await demoRecord();
      const runs = await writeRuns([
        variant(base, "onnx", 0, { fewShot: true }),
        variant(base, "webgpu", 1, { fewShot: true }),
        variant(base, "wasm", 2, { fewShot: true }),
      ], root);
      const out = join(root, "site");
      const result = await runCli(["report", ...runs, "--out", out]);
      assertEquals(result.code, 0, result.stderr);
      assertStringIncludes(result.stdout, "Average");
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      for (const page of ["index.html", "compare.html", "run-1.html"]) {
        const file = join(out, page);
        const size = (await Deno.stat(file)).size;
        assert(size < 1.5 * 2 ** 20, `${page} is ${size} bytes (limit 1.5 MB)`);
        const { check, dom } = await renderPage(
          file,
          join(ARTIFACTS, `report-${page.replace(".html", "")}.png`),
        );
        assertEquals(check.errors, [], `${page}: script errors`);
        assertEquals(check.resources, [], `${page}: network requests`);
        assertEquals(check.cspViolations, [], `${page}: CSP violations`);
        assertEquals(check.blankCanvases, [], `${page}: blank charts`);
        if (page !== "index.html") {
          assert(check.canvases >= 5, `${page}: ${check.canvases} charts`);
          for (
            const section of [
              "Results by task",
              "Data efficiency",
              "Per task",
              "Timing",
              "Provenance",
            ]
          ) {
            assertStringIncludes(dom, section);
          }
          assertStringIncludes(dom, "no published number: a demo run");
        }
        if (page === "compare.html") assertStringIncludes(dom, "Engine parity");
      }
    }),
});

Deno.test("report refuses to compare runs on different data unless --force, and says what differs", () =>
  withReportDir(async (root) => {
    const other = makeRecord({ engine: "wasm" });
    other.provenance.dataHash = "00".repeat(32);
    const runs = await writeRuns([makeRecord(), other], root);
    const refused = await runCli(["report", ...runs, "--out", join(root, "refused")]);
    assertEquals(refused.code, 2);
    assertStringIncludes(refused.stderr, "annotation files differ");
    const out = join(root, "forced");
    const forced = await runCli(["report", ...runs, "--out", out, "--force"]);
    assertEquals(forced.code, 0, forced.stderr);
    assertStringIncludes(
      await Deno.readTextFile(join(out, "compare.html")),
      "not directly comparable",
    );
  }));

Deno.test("report gates exit 3 below --fail-below and above --max-regression", () =>
  withReportDir(async (root) => {
    const good = makeRecord({ value: 0.5 });
    const worse = makeRecord({ value: 0.48, engine: "webgpu" });
    const runs = await writeRuns([good, worse], root);
    const below = await runCli([
      "report",
      runs[0],
      "--out",
      join(root, "below"),
      "--fail-below",
      "0.99",
    ]);
    assertEquals(below.code, 3);
    assertStringIncludes(below.stderr, "gate failed");
    const regression = await runCli([
      "report",
      ...runs,
      "--out",
      join(root, "regression"),
      "--max-regression",
      "0.01",
    ]);
    assertEquals(regression.code, 3);
    const fine = await runCli([
      "report",
      ...runs,
      "--out",
      join(root, "fine"),
      "--max-regression",
      "0.05",
    ]);
    assertEquals(fine.code, 0, fine.stderr);
  }));

Deno.test("verdict() states the AP difference and the speed ratio", () => {
  const a = makeRecord({ value: 0.5 });
  const b = makeRecord({ value: 0.498, engine: "webgpu" });
  b.timings.imagesPerSecond = 2 * a.timings.imagesPerSecond;
  assertStringIncludes(verdict([a, b]), "webgpu vs onnx: ΔAP -0.2, 2.0x faster");
});
