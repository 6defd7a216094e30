/**
 * `deno task test` (scripts/test.ts) runs the tests in a temp folder of their own, removes it, and
 * fails a passing run that left something in it.
 */
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { fileURLToPath } from "node:url";

const wrapper = fileURLToPath(new URL("../../scripts/test.ts", import.meta.url));

interface Outcome {
  code: number;
  stderr: string;
  /** What the outer temp folder holds after the run (the wrapper's folder must be gone). */
  tmpAfter: string[];
  sandbox: string;
}

/** Runs the wrapper on one test module written into a sandbox, with TMPDIR inside the sandbox. */
async function runWrapper(testModule: string, check: (outcome: Outcome) => void | Promise<void>) {
  const sandbox = await Deno.makeTempDir({ prefix: "test-task-" });
  try {
    await Deno.mkdir(`${sandbox}/tmp`);
    await Deno.writeTextFile(`${sandbox}/probe_test.ts`, testModule);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", wrapper, "--no-check", "--no-config", "probe_test.ts"],
      cwd: sandbox,
      env: { TMPDIR: `${sandbox}/tmp`, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const tmpAfter = (await Array.fromAsync(Deno.readDir(`${sandbox}/tmp`))).map((e) => e.name);
    const decoder = new TextDecoder();
    const stderr = decoder.decode(output.stdout) + decoder.decode(output.stderr);
    await check({ code: output.code, stderr, tmpAfter, sandbox });
  } finally {
    await Deno.remove(sandbox, { recursive: true });
  }
}

Deno.test("the test task gives the tests a fresh TMPDIR and removes it after a clean run", async () => {
  const probe = `
Deno.test("uses and cleans the temp folder", async () => {
  await Deno.writeTextFile("tmpdir.txt", Deno.env.get("TMPDIR") ?? "");
  const dir = await Deno.makeTempDir();
  await Deno.remove(dir);
});`;
  await runWrapper(probe, async ({ code, stderr, tmpAfter, sandbox }) => {
    assertEquals(code, 0, stderr);
    const tmpdir = await Deno.readTextFile(`${sandbox}/tmpdir.txt`);
    assertStringIncludes(tmpdir, `${sandbox}/tmp/glip-bench-test-`);
    assertEquals(tmpAfter, [], "the run's temp folder is removed");
    assertEquals(stderr.includes("left"), false, stderr);
  });
});

Deno.test("the test task fails a passing run that leaves files in the temp folder and lists them", async () => {
  const probe = `
Deno.test("leaks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "leaky-" });
  await Deno.writeTextFile(dir + "/ten.bin", "0123456789");
});`;
  await runWrapper(probe, ({ code, stderr, tmpAfter }) => {
    assertEquals(code, 1, stderr);
    assertStringIncludes(stderr, "ok | 1 passed");
    assertStringIncludes(stderr, "the tests left 1 entry in their temp folder");
    assertEquals(/ {2}leaky-\S+ \(10 B\)/.test(stderr), true, stderr);
    assertEquals(tmpAfter, [], "the leftovers are removed with the folder");
  });
});

Deno.test("the test task keeps the status of a failing run", async () => {
  const probe = `Deno.test("fails", () => { throw new Error("on purpose"); });`;
  await runWrapper(probe, ({ code, stderr, tmpAfter }) => {
    assertEquals(code, 1, stderr);
    assertStringIncludes(stderr, "FAILED | 0 passed | 1 failed");
    assertEquals(stderr.includes("the tests left"), false, stderr);
    assertEquals(tmpAfter, []);
  });
});
