/**
 * Progress for people and for logs: a bar on a terminal; when stderr is not a terminal (a Slurm
 * or Kubernetes log) a line every `--progress-every` seconds with task, images done/total,
 * images/s and ETA; `--quiet` writes neither.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { makeTestDir } from "../temp_dir.ts";
import { formatDuration, progress } from "../../cli/output.ts";

/** A progress reporter on a fake clock, writing into `written`. */
function fakeProgress(total: number, options: { terminal: boolean; everySeconds?: number }) {
  let clock = 0;
  const written: string[] = [];
  const bar = progress("Aquarium", total, {
    ...options,
    now: () => clock,
    write: (text) => written.push(text),
  });
  return { bar, written, advance: (seconds: number) => (clock += 1000 * seconds) };
}

Deno.test("without a terminal, progress is a line every --progress-every seconds", () => {
  const { bar, written, advance } = fakeProgress(100, { terminal: false, everySeconds: 30 });
  for (let done = 1; done <= 100; done++) {
    advance(1); // one image a second
    bar.tick(done);
  }
  bar.end();
  assertEquals(written, [
    "Aquarium: 30/100 img, 1.00 img/s, ETA 1m10s\n",
    "Aquarium: 60/100 img, 1.00 img/s, ETA 40s\n",
    "Aquarium: 90/100 img, 1.00 img/s, ETA 10s\n",
    "Aquarium: 100 img in 100.0s\n",
  ]);
  assert(written.every((line) => !line.includes("\r") && !line.includes("\x1b")), "no bar codes");
});

Deno.test("a resumed task counts its earlier images in done, not in the rate", () => {
  let clock = 0;
  const written: string[] = [];
  const bar = progress("Aquarium", 100, {
    terminal: false,
    everySeconds: 10,
    alreadyDone: 60,
    now: () => clock,
    write: (text) => written.push(text),
  });
  for (let done = 61; done <= 100; done++) {
    clock += 500; // two images a second
    bar.tick(done);
  }
  bar.end();
  assertEquals(written, [
    "Aquarium: 80/100 img, 2.00 img/s, ETA 10s\n",
    "Aquarium: 100/100 img, 2.00 img/s, ETA 0s\n",
    "Aquarium: 40 img in 20.0s (60 before: resumed)\n",
  ]);
});

Deno.test("on a terminal, progress stays a redrawn bar", () => {
  const { bar, written, advance } = fakeProgress(4, { terminal: true });
  for (let done = 1; done <= 4; done++) {
    advance(1);
    bar.tick(done);
  }
  bar.end();
  assertEquals(written.length, 5);
  assertEquals(written[0], "\r\x1b[2KAquarium ██████░░░░░░░░░░░░░░░░░░ 1/4 1.0 img/s ETA 3s");
  assertEquals(written[4], "\r\x1b[2KAquarium: 4 img in 4.0s\n");
});

Deno.test("quiet progress writes nothing", () => {
  for (const terminal of [true, false]) {
    const written: string[] = [];
    const bar = progress("Aquarium", 3, {
      terminal,
      quiet: true,
      everySeconds: 0,
      write: (text) => written.push(text),
    });
    bar.tick(1);
    bar.end();
    assertEquals(written, []);
  }
});

Deno.test("durations read as a person would write them", () => {
  assertEquals([5, 65, 3600 + 120, Infinity].map(formatDuration), ["5s", "1m05s", "1h02m", "?"]);
});

Deno.test("bench with stderr piped prints progress lines; --quiet silences them", async () => {
  const args = ["bench", "odinw", "--demo", "--tasks", "DemoShapes", "--limit", "3", "--no-report"];
  const lines = await runCli([
    ...args,
    "--progress-every",
    "0",
    "--out",
    await makeTestDir({ prefix: "progress-lines-" }),
  ]);
  assertEquals(lines.code, 0, lines.stderr);
  for (const done of [1, 2, 3]) {
    assertMatch(lines.stderr, new RegExp(`DemoShapes: ${done}/3 img, [\\d.]+ img/s, ETA \\S+\\n`));
  }
  assert(!lines.stderr.includes("\r"), "no terminal bar in a log");
  const quiet = await runCli([
    ...args,
    "--quiet",
    "--out",
    await makeTestDir({ prefix: "progress-quiet-" }),
  ]);
  assertEquals(quiet.code, 0, quiet.stderr);
  assert(!quiet.stderr.includes("DemoShapes:"), quiet.stderr);
  assertStringIncludes(quiet.stdout, "DemoShapes", "the results still print");
  const bad = await runCli([...args, "--progress-every", "soon"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "--progress-every takes seconds >= 0 (got 'soon')");
});
