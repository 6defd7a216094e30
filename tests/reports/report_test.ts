import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, runCli } from "../cli_helpers.ts";
import { demoRecord, variant, writeRuns } from "./fixtures.ts";
import { chromiumAvailable, renderPage } from "./chromium.ts";
import { verdict } from "../../reports/page.ts";

const ARTIFACTS = fileURLToPath(new URL("test-artifacts/", ROOT));
const skipBrowser = !chromiumAvailable() && !Deno.env.get("CI");
if (skipBrowser) {
  console.log("report browser tests skipped: /usr/bin/chromium is missing (run scripts/setup.sh)");
}

Deno.test({
  name:
    "report pages render in headless Chromium: no script errors, no network requests, every chart drawn",
  ignore: skipBrowser,
  async fn() {
    const base = await demoRecord();
    const runs = await writeRuns([
      variant(base, "onnx", 0, { fewShot: true }),
      variant(base, "webgpu", 1, { fewShot: true }),
      variant(base, "wasm", 2, { fewShot: true }),
    ]);
    const out = await makeTestDir({ prefix: "report-site-" });
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
      }
      if (page === "compare.html") assertStringIncludes(dom, "Engine parity");
    }
  },
});

Deno.test("report refuses to compare runs on different data unless --force, and says what differs", async () => {
  const base = await demoRecord();
  const other = {
    ...variant(base, "onnx", 1),
    provenance: { ...base.provenance, dataHash: "different" },
  };
  const runs = await writeRuns([variant(base, "onnx", 0), other]);
  const refused = await runCli(["report", ...runs, "--out", await makeTestDir()]);
  assertEquals(refused.code, 2);
  assertStringIncludes(refused.stderr, "annotation files differ");
  const out = await makeTestDir();
  const forced = await runCli(["report", ...runs, "--out", out, "--force"]);
  assertEquals(forced.code, 0, forced.stderr);
  assertStringIncludes(
    await Deno.readTextFile(join(out, "compare.html")),
    "not directly comparable",
  );
});

Deno.test("report gates exit 3 below --fail-below and above --max-regression", async () => {
  const base = await demoRecord();
  const good = variant(base, "onnx", 0);
  const worse = {
    ...variant(base, "webgpu", 0),
    summary: { ...good.summary, mean: good.summary.mean - 0.02 },
  };
  const runs = await writeRuns([good, worse]);
  const below = await runCli([
    "report",
    runs[0],
    "--out",
    await makeTestDir(),
    "--fail-below",
    "0.99",
  ]);
  assertEquals(below.code, 3);
  assertStringIncludes(below.stderr, "gate failed");
  const regression = await runCli([
    "report",
    ...runs,
    "--out",
    await makeTestDir(),
    "--max-regression",
    "0.01",
  ]);
  assertEquals(regression.code, 3);
  const fine = await runCli([
    "report",
    ...runs,
    "--out",
    await makeTestDir(),
    "--max-regression",
    "0.05",
  ]);
  assertEquals(fine.code, 0, fine.stderr);
});

Deno.test("verdict() states the AP difference and the speed ratio", async () => {
  const base = await demoRecord();
  const a = variant(base, "onnx", 0);
  const b = {
    ...variant(base, "webgpu", 1),
    summary: { ...a.summary, mean: a.summary.mean - 0.002 },
  };
  assertStringIncludes(verdict([a, b]), "webgpu vs onnx: ΔAP -0.2, 2.0x faster");
});
