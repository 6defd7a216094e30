/**
 * scripts/setup.sh against fake `apt-get`, `dpkg`, `id`, `sudo`, `npm` and `deno` on PATH: it waits
 * for a held apt lock (bounded), uses sudo when not root, stops with what to do by hand when it
 * cannot become root, keeps apt's output in its log and prints a short summary. Needs no root and
 * installs nothing.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { fileURLToPath } from "node:url";

const setupScript = fileURLToPath(new URL("../../scripts/setup.sh", import.meta.url));

/** Real tools the script and the fakes use; everything else on PATH is a fake. */
const TOOLS = ["bash", "env", "dirname", "mkdir", "tail", "grep", "sed", "awk", "head", "sleep"];

const LOCK_LINE =
  "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)";

const FAKES: Record<string, string> = {
  "apt-get": `#!/bin/bash
echo "apt-get $* sudo=\${FAKE_VIA_SUDO:-0} frontend=\${DEBIAN_FRONTEND:-}" >>"$FAKE_DIR/calls"
left=$(cat "$FAKE_DIR/locked" 2>/dev/null || echo 0)
if [ "$left" -gt 0 ]; then
  echo $((left - 1)) >"$FAKE_DIR/locked"
  echo "${LOCK_LINE}" >&2
  exit 100
fi
if [ "$1" = install ] && [ -n "\${FAKE_INSTALL_FAILS:-}" ]; then
  echo "E: Unable to locate package chromium" >&2
  exit 100
fi
for i in $(seq 1 100); do echo "Get:$i http://deb.debian.org/debian bookworm/main amd64 noise"; done
`,
  dpkg: `#!/bin/bash
for package in $FAKE_MISSING; do [ "$2" = "$package" ] && exit 1; done
exit 0
`,
  id: `#!/bin/bash
case "$1" in -u) echo "$FAKE_UID" ;; -un) echo alice ;; *) exit 1 ;; esac
`,
  deno: `#!/bin/bash
case "$1" in --version) echo "deno \${FAKE_DENO_VERSION:-2.9.6} (stable, release, x86_64-unknown-linux-gnu)" ;;
  install) echo "deno $*" >>"$FAKE_DIR/calls" ;; *) exit 1 ;; esac
`,
  npm: `#!/bin/bash
case "$1" in prefix) echo "$FAKE_NPM_PREFIX" ;;
  install) echo "npm $* sudo=\${FAKE_VIA_SUDO:-0}" >>"$FAKE_DIR/calls" ;; *) exit 1 ;; esac
`,
  sudo: `#!/bin/bash
FAKE_VIA_SUDO=1 exec "$@"
`,
};

interface SetupRun {
  code: number;
  stderr: string;
  /** The fake commands' calls, one a line. */
  calls: string[];
  /** The log the script keeps (.cache/setup.log in its checkout). */
  log: string;
}

/**
 * Runs a copy of setup.sh in a sandbox checkout with only the fakes and TOOLS on PATH.
 * `sudo: false` leaves sudo off PATH; `lockedCalls` apt-get calls fail on a held lock first.
 */
async function runSetup(options: {
  uid: number;
  missing: string[];
  sudo?: boolean;
  lockedCalls?: number;
  npmPrefixWritable?: boolean;
  env?: Record<string, string>;
}): Promise<SetupRun> {
  const sandbox = await Deno.makeTempDir({ prefix: "setup-test-" });
  try {
    const bin = `${sandbox}/bin`;
    const fake = `${sandbox}/fake`;
    await Deno.mkdir(`${sandbox}/repo/scripts`, { recursive: true });
    await Deno.mkdir(bin);
    await Deno.mkdir(fake);
    await Deno.copyFile(setupScript, `${sandbox}/repo/scripts/setup.sh`);
    for (const [name, text] of Object.entries(FAKES)) {
      if (name === "sudo" && options.sudo === false) continue;
      await Deno.writeTextFile(`${bin}/${name}`, text, { mode: 0o755 });
    }
    for (const tool of [...TOOLS, "cat", "seq"]) {
      const real = await which(tool);
      await Deno.symlink(real, `${bin}/${tool}`);
    }
    await Deno.mkdir(`${sandbox}/npm-global`, { mode: options.npmPrefixWritable ? 0o755 : 0o555 });
    await Deno.writeTextFile(`${fake}/locked`, String(options.lockedCalls ?? 0));
    const output = await new Deno.Command(`${bin}/bash`, {
      args: [`${sandbox}/repo/scripts/setup.sh`],
      clearEnv: true,
      env: {
        PATH: bin,
        HOME: sandbox,
        FAKE_DIR: fake,
        FAKE_UID: String(options.uid),
        FAKE_MISSING: options.missing.join(" "),
        FAKE_NPM_PREFIX: `${sandbox}/npm-global`,
        SETUP_APT_LOCK_POLL: "1",
        ...options.env,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const calls = await Deno.readTextFile(`${fake}/calls`).catch(() => "");
    return {
      code: output.code,
      stderr: decoder.decode(output.stdout) + decoder.decode(output.stderr),
      calls: calls.trim().split("\n").filter((line) => line !== ""),
      log: await Deno.readTextFile(`${sandbox}/repo/.cache/setup.log`).catch(() => ""),
    };
  } finally {
    await Deno.remove(sandbox, { recursive: true });
  }
}

async function which(tool: string): Promise<string> {
  for (const dir of ["/usr/bin", "/bin", "/usr/local/bin"]) {
    try {
      await Deno.stat(`${dir}/${tool}`);
      return `${dir}/${tool}`;
    } catch {
      // look in the next folder
    }
  }
  throw new Error(`setup test: ${tool} not found in /usr/bin, /bin or /usr/local/bin`);
}

Deno.test("setup.sh waits for a held apt lock, keeps apt's output in its log and prints a short summary", async () => {
  const run = await runSetup({ uid: 0, missing: ["chromium", "time"], lockedCalls: 2 });
  assertEquals(run.code, 0, run.stderr);
  assertStringIncludes(run.stderr, "holds the lock; waiting for it (up to 300 s)");
  assertStringIncludes(run.stderr, "held by process 4242 (unattended-upgr)");
  assertEquals(run.stderr.split("waiting for it").length, 2, "the wait is announced once");
  assertStringIncludes(run.stderr, "chromium: report tests");
  assertStringIncludes(run.stderr, "ready: deno 2.9.6 already there; apt installed chromium time");
  assertStringIncludes(run.stderr, "the lock is free after 2 s; going on");
  assertStringIncludes(run.stderr, "/repo/.cache/setup.log)");
  assert(!run.stderr.includes("Get:"), "apt's output stays out of the terminal");
  assert(run.stderr.trim().split("\n").length <= 9, run.stderr);
  assertStringIncludes(run.log, "Get:100 http://deb.debian.org");
  assertEquals(run.calls, [
    "apt-get update -q sudo=0 frontend=noninteractive",
    "apt-get update -q sudo=0 frontend=noninteractive",
    "apt-get update -q sudo=0 frontend=noninteractive",
    "apt-get install -y -q --no-install-recommends chromium time sudo=0 frontend=noninteractive",
    "deno install --quiet",
  ]);
});

Deno.test("setup.sh gives up on an apt lock held past SETUP_APT_LOCK_WAIT and names its holder", async () => {
  const run = await runSetup({
    uid: 0,
    missing: ["chromium"],
    lockedCalls: 100,
    env: { SETUP_APT_LOCK_WAIT: "1" },
  });
  assertEquals(run.code, 1, run.stderr);
  assertStringIncludes(run.stderr, "still holds the lock after 1 s");
  assertStringIncludes(run.stderr, "held by process 4242");
  assertStringIncludes(run.stderr, "then run scripts/setup.sh again");
  assert(run.calls.every((call) => call.startsWith("apt-get update")), run.calls.join("\n"));
});

Deno.test("setup.sh uses sudo when not root, and says so", async () => {
  const run = await runSetup({ uid: 1000, missing: ["mesa-vulkan-drivers"] });
  assertEquals(run.code, 0, run.stderr);
  assertStringIncludes(run.stderr, "not running as root: using sudo for installing mesa-vulkan");
  const aptCalls = run.calls.filter((call) => call.startsWith("apt-get"));
  assertEquals(aptCalls.length, 2, run.calls.join("\n"));
  assert(aptCalls.every((call) => call.includes("sudo=1")), aptCalls.join("\n"));
});

Deno.test("setup.sh without root or sudo stops before apt and says what to install by hand", async () => {
  const run = await runSetup({ uid: 1000, missing: ["chromium", "time"], sudo: false });
  assertEquals(run.code, 1, run.stderr);
  assertStringIncludes(run.stderr, "this user (alice) is not root and has no sudo");
  assertStringIncludes(
    run.stderr,
    "apt-get update && apt-get install -y --no-install-recommends chromium time",
  );
  assertEquals(run.calls, []);
});

Deno.test("setup.sh needs neither root nor apt when everything is there", async () => {
  const run = await runSetup({ uid: 1000, missing: [], sudo: false });
  assertEquals(run.code, 0, run.stderr);
  assertStringIncludes(
    run.stderr,
    "apt packages already there (mesa-vulkan-drivers chromium time)",
  );
  assertEquals(run.calls, ["deno install --quiet"]);
});

Deno.test("setup.sh shows the end of its log when apt-get fails for another reason", async () => {
  const run = await runSetup({ uid: 0, missing: ["chromium"], env: { FAKE_INSTALL_FAILS: "1" } });
  assertEquals(run.code, 1, run.stderr);
  assertStringIncludes(run.stderr, "apt-get install failed (exit 100); the end of /");
  assertStringIncludes(run.stderr, "  E: Unable to locate package chromium");
  assert(!run.stderr.includes("ready:"), run.stderr);
});

Deno.test("setup.sh refuses a lock wait that is not whole seconds", async () => {
  const run = await runSetup({ uid: 0, missing: [], env: { SETUP_APT_LOCK_WAIT: "5m" } });
  assertEquals(run.code, 2, run.stderr);
  assertStringIncludes(
    run.stderr,
    "SETUP_APT_LOCK_WAIT must be a whole number of seconds (got '5m')",
  );
});

Deno.test("setup.sh installs the pinned deno with npm, as the user when npm's global folder is theirs", async () => {
  const run = await runSetup({
    uid: 1000,
    missing: [],
    sudo: false,
    npmPrefixWritable: true,
    env: { FAKE_DENO_VERSION: "2.0.0" },
  });
  assertEquals(run.code, 0, run.stderr);
  assertStringIncludes(run.stderr, "installing deno 2.9.6 from the npm registry");
  assertStringIncludes(run.stderr, "ready: deno 2.9.6 installed;");
  assertEquals(run.calls, [
    "npm install --global --no-audit --no-fund deno@2.9.6 sudo=0",
    "deno install --quiet",
  ]);
});
