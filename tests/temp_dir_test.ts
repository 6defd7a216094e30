import { assertEquals } from "./assert.ts";

const helper = new URL("temp_dir.ts", import.meta.url).href;

/** Test module A: makes two folders, fills one, then fails a test. */
const moduleA = `
import { makeTestDir } from ${JSON.stringify(helper)};
Deno.test("makes folders", async () => {
  const first = await makeTestDir();
  const second = await makeTestDir({ prefix: "named-" });
  await Deno.mkdir(first + "/deep/er", { recursive: true });
  await Deno.writeTextFile(first + "/deep/er/file.txt", "x");
  await Deno.writeTextFile("made.txt", [first, second].join("\\n"));
});
Deno.test("fails", () => {
  throw new Error("this test fails on purpose");
});
`;

/** Test module B, run after A: records whether A's folders were already gone. */
const moduleB = `
Deno.test("sees A's folders gone", async () => {
  const dirs = (await Deno.readTextFile("made.txt")).split("\\n");
  const left = [];
  for (const dir of dirs) {
    try {
      await Deno.stat(dir);
      left.push(dir);
    } catch {
      // removed, as it should be
    }
  }
  await Deno.writeTextFile("left-when-b-ran.txt", left.join("\\n"));
});
`;

Deno.test("makeTestDir() folders are gone when their test module ends, even after a failed test", async () => {
  const sandbox = await Deno.makeTempDir({ prefix: "temp-dir-test-" });
  try {
    const tmp = `${sandbox}/tmp`;
    await Deno.mkdir(tmp);
    await Deno.writeTextFile(`${sandbox}/a_test.ts`, moduleA);
    await Deno.writeTextFile(`${sandbox}/b_test.ts`, moduleB);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--quiet", "--no-check", "--no-config", "a_test.ts", "b_test.ts"],
      cwd: sandbox,
      env: { TMPDIR: tmp, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 1, `the failing test fails the run:\n${log}`);
    const made = (await Deno.readTextFile(`${sandbox}/made.txt`)).split("\n");
    assertEquals(made.length, 2, log);
    assertEquals(made.every((dir) => dir.startsWith(`${tmp}/`)), true, `made in TMPDIR: ${made}`);
    assertEquals(made[1].slice(tmp.length + 1).startsWith("named-"), true, made[1]);
    assertEquals(await Deno.readTextFile(`${sandbox}/left-when-b-ran.txt`), "", log);
    assertEquals(await Array.fromAsync(Deno.readDir(tmp)), [], "TMPDIR is empty afterwards");
  } finally {
    await Deno.remove(sandbox, { recursive: true });
  }
});
