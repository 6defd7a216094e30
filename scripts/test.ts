/**
 * `deno task test`: runs `deno test -A --quiet --doc` (with any further arguments, such as test
 * files) with the temp folder (`TMPDIR`, `TMP`, `TEMP`) pointed at a fresh folder made for this
 * run, and removes that folder afterwards. If the tests left anything in it, the leftovers are
 * listed on stderr and a run whose tests passed exits 1: every test removes what it makes.
 * Otherwise the exit status is the tests' own.
 *
 * @module
 */

/** What one test run left in its temp folder: a name under the folder and its size in bytes. */
interface Leftover {
  name: string;
  bytes: number;
}

/** Lists the top-level entries of `dir` with the bytes each holds (folders summed). */
async function listLeftovers(dir: string): Promise<Leftover[]> {
  const leftovers: Leftover[] = [];
  for await (const entry of Deno.readDir(dir)) {
    leftovers.push({ name: entry.name, bytes: await sizeOf(`${dir}/${entry.name}`) });
  }
  return leftovers.sort((a, b) => a.name.localeCompare(b.name));
}

async function sizeOf(path: string): Promise<number> {
  const info = await Deno.lstat(path);
  if (!info.isDirectory) return info.size;
  let total = 0;
  for await (const entry of Deno.readDir(path)) total += await sizeOf(`${path}/${entry.name}`);
  return total;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** Runs the tests with a private temp folder; returns the exit status. */
async function main(args: string[]): Promise<number> {
  const tmp = await Deno.makeTempDir({ prefix: "glip-bench-test-" });
  // A login session has an XDG_RUNTIME_DIR; a CI machine has none, and then every process that
  // loads onnxruntime-web makes a private one (engines/ort_web/engine.ts), which a test that
  // kills such a process mid-run cannot have removed. Give the tests one, as a session would.
  const runtimeDir = Deno.env.get("XDG_RUNTIME_DIR")
    ? undefined
    : await Deno.makeTempDir({ prefix: "glip-bench-test-xdg-" });
  if (runtimeDir) await Deno.chmod(runtimeDir, 0o700);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--quiet", "--doc", ...args],
    // onnxruntime-node's telemetry would write .ses and mat-debug-*.log into the temp folder
    // from every test that opens a session itself (core/onnxruntime_telemetry.ts)
    env: {
      TMPDIR: tmp,
      TMP: tmp,
      TEMP: tmp,
      ORT_DISABLE_TELEMETRY: "1",
      ...(runtimeDir ? { XDG_RUNTIME_DIR: runtimeDir } : {}),
    },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the tests too (same process group); a TERM is passed on. Either way this
  // process waits for them to end, then cleans up.
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch {
      // the tests have already ended
    }
  };
  const handlers = signals.map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  const status = await child.status;
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);

  const leftovers = await listLeftovers(tmp);
  await Deno.remove(tmp, { recursive: true });
  if (runtimeDir) await Deno.remove(runtimeDir, { recursive: true });
  if (leftovers.length === 0) return status.code;
  console.error(
    `test: the tests left ${leftovers.length} entr${leftovers.length === 1 ? "y" : "ies"} ` +
      `in their temp folder ${tmp} (now removed); each test must remove what it makes:`,
  );
  for (const { name, bytes } of leftovers) console.error(`  ${name} (${formatBytes(bytes)})`);
  return status.code === 0 ? 1 : status.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
