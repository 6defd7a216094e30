/**
 * Run records are files from other people: every string of one that reaches a page is escaped
 * for its context, and the pages' Content-Security-Policy lets only the scripts and styles the
 * suite ships run (by sha256), so markup in a record can neither run nor request anything.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { join } from "node:path";
import { cspHash, escapeHtml, jsonForScript, relativeHref } from "../../reports/html.ts";
import { contentSecurityPolicy, renderReportPage } from "../../reports/page.ts";
import { buildSite } from "../../reports/site.ts";
import type { RunRecord } from "../../benchmarks/run_record.ts";
import { chromiumAvailable, renderPage } from "./chromium.ts";
import { makeRecord } from "./records.ts";
import { failingCheck } from "./parity_checks.ts";

const skipBrowser = !chromiumAvailable() && !Deno.env.get("CI");
if (skipBrowser) {
  console.log(
    "hostile-record browser test skipped: /usr/bin/chromium is missing (run scripts/setup.sh)",
  );
}

Deno.test("escapeHtml() escapes text and quoted attributes; relativeHref() refuses anything but a relative file", () => {
  assertEquals(
    escapeHtml(`<img src=x onerror="a('b')">&\``),
    "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;&#96;",
  );
  assertEquals(escapeHtml(12.5), "12.5");
  assertEquals(relativeHref("run-1.html"), "run-1.html");
  assertEquals(relativeHref('a b/"c".html'), "a%20b/%22c%22.html");
  for (
    const bad of [
      "javascript:alert(1)",
      "JavaScript:alert(1)",
      "data:text/html,x",
      "http://example.com/",
      "//example.com/x",
      "/etc/passwd",
      "../up.html",
      "a/../../b",
      "a\\b",
      "a\u0000b",
      " javascript:x",
      "",
    ]
  ) {
    let refused = false;
    try {
      relativeHref(bad);
    } catch (error) {
      refused = error instanceof TypeError;
    }
    assert(refused, `relativeHref accepted ${JSON.stringify(bad)}`);
  }
  const json = jsonForScript({ a: "</script><script>x()</script><!--", b: "\u2028" });
  assert(!json.includes("<") && !json.includes("\u2028"), json);
  assertEquals(JSON.parse(json).a, "</script><script>x()</script><!--");
  assertEquals(cspHash(""), "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='");
});

Deno.test("the CSP allows exactly the page's inline scripts and style by hash, and nothing inline else", () => {
  const html = renderReportPage("t", [makeRecord()]);
  const policy = contentSecurityPolicy();
  assert(!policy.includes("unsafe"), policy);
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
  assertEquals([scripts.length, styles.length], [2, 1]);
  const scriptSrc = /script-src ([^;]*)/.exec(policy)![1].split(" ");
  const styleSrc = /style-src ([^;]*)/.exec(policy)![1].split(" ");
  assertEquals(scriptSrc.sort(), scripts.map(cspHash).sort());
  assertEquals(styleSrc, styles.map(cspHash));
  assertStringIncludes(policy, "default-src 'none'");
  assert(
    !/<[^>]*\son[a-z]+\s*=/i.test(html.replace(/<script>[\s\S]*?<\/script>/g, "")),
    "inline handler",
  );
  assert(!/\sstyle\s*=/i.test(html), "inline style attribute");
});

/** A record whose every name field carries payloads aimed at `origin`. */
function hostileRecord(origin: string, engine: string): RunRecord {
  const payload = (tag: string) =>
    `<img src=${origin}/img-${tag} onerror="document.body.setAttribute('data-pwned','${tag}')">` +
    `</script><script>document.body.setAttribute('data-pwned','s-${tag}');fetch('${origin}/f-${tag}')</script>` +
    `" onmouseover="document.body.setAttribute('data-pwned','a-${tag}')" x='` +
    `<style>body{background:url(${origin}/css-${tag})}</style><a href="javascript:document.body.setAttribute('data-pwned','j-${tag}')">j</a>` +
    `javascript:document.body.setAttribute('data-pwned','u-${tag}') <!--`;
  return makeRecord({
    suite: "odinw",
    tasks: { [payload("task")]: payload("split") },
    cells: { "1": [3] },
    protocol: payload("protocol"),
    prompt: payload("prompt"),
    modelName: payload("model"),
    engine: `${engine}${payload("engine")}`,
    comparison: { checkpointFile: payload("checkpoint"), reference: payload("reference") },
    patch: (r) => {
      const any = r as unknown as Record<string, unknown>;
      any.id = payload("id");
      r.createdAt = `2026-12-01${payload("date")}`;
      r.model.configName = payload("config");
      r.engine.device = payload("device");
      r.engine.executionProvider = payload("ep");
      (r.engine as unknown as Record<string, unknown>).dtype = payload("dtype");
      r.settings.shard = undefined;
      r.settings.shots = [payload("shots") as unknown as number];
      r.settings.deliberateDifferences = [payload("differences")];
      r.provenance.machine.os = payload("os");
      r.provenance.machine.arch = payload("arch");
      r.provenance.dataRoot = payload("root");
      r.provenance.command = [payload("command")];
      r.summary.metric = payload("metric");
      r.timings.stages = { [payload("stage")]: { count: 1, totalMs: 1, p50Ms: 1, p90Ms: 1 } };
      const task = r.tasks[0];
      task.dataset = payload("dataset");
      task.categories = [{ id: 1, name: payload("category") }];
      task.prompts = [{
        query: payload("query"),
        hash: payload("hash"),
        labels: [1],
        droppedLabels: [payload("dropped") as unknown as number],
      }];
      task.card = { summary: payload("card"), quirks: [payload("quirk")] };
      task.result!.perCategory = { "1": { AP: 0.5 } };
      // every string of a recorded parity check reaches the engine-parity section
      const check = failingCheck(payload("parity-engine"));
      check.executionProvider = payload("parity-ep");
      check.reference.description = payload("parity-reference");
      check.reference.libraries = { [payload("ref-lib")]: payload("ref-version") };
      check.libraries = { [payload("lib")]: payload("version") };
      check.outputs[0].output = payload("output");
      check.failures = [payload("failure")];
      check.checkedAt = payload("checked-at");
      check.shard = payload("parity-shard");
      r.engineParity = [check];
    },
  });
}

Deno.test({
  name:
    "hostile records: in headless Chromium no payload runs, no request leaves the page, and the CSP reports nothing",
  ignore: skipBrowser,
  async fn() {
    const requests: string[] = [];
    const controller = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
      (request) => {
        requests.push(request.url);
        return new Response("");
      },
    );
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const root = await Deno.makeTempDir({ prefix: "report-hostile-" });
    try {
      const runs = [];
      for (const [i, engine] of ["onnx", "wasm"].entries()) {
        const dir = join(root, `run-${i}`);
        await Deno.mkdir(dir);
        await Deno.writeTextFile(
          join(dir, "run.json"),
          JSON.stringify(hostileRecord(origin, engine)),
        );
        runs.push(dir);
      }
      const out = join(root, "site");
      await buildSite(runs, out);
      for (const name of ["index.html", "run-1.html", "compare.html"]) {
        const file = join(out, name);
        const html = await Deno.readTextFile(file);
        assertEquals((html.match(/<script/gi) ?? []).length, 3, `${name}: script elements`);
        assert(!/<img|<a href="javascript|<style>body/i.test(html), `${name}: payload markup`);
        // the parity check's strings reached the page (as text)
        if (name !== "index.html") assertStringIncludes(html, "/img-failure");
        const { check, dom } = await renderPage(file);
        // A payload that ran sets data-pwned="..." on <body>; the escaped payload text only
        // holds setAttribute('data-pwned', ...), and attribute values escape their quotes.
        assert(!dom.includes('data-pwned="'), `${name}: a payload ran`);
        assert(!/<a\s[^>]*href="?javascript:/i.test(dom), `${name}: a javascript: link`);
        assertEquals(check.errors, [], `${name}: script errors`);
        assertEquals(check.resources, [], `${name}: resources loaded`);
        assertEquals(check.cspViolations, [], `${name}: CSP violations`);
        assertStringIncludes(dom, "&lt;img src=");
      }
      assertEquals(requests, [], "requests reached the test server");
    } finally {
      controller.abort();
      await server.finished;
      await Deno.remove(root, { recursive: true });
    }
  },
});
