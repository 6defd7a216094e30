/**
 * Runs the CLI in a subprocess, as a user would, and captures its output; says where the test
 * fixtures live.
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";

/** Repository root. */
export const ROOT = new URL("../", import.meta.url);
/**
 * `tests/fixtures/`: the oracles and reference tensors the tests compare with, kept in the
 * repository (tests/fixtures/README.md says where each came from).
 */
export const FIXTURES = new URL("fixtures/", import.meta.url);

/** Result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A cli/main.ts ...args` from the repository root. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", fromFileUrl(new URL("cli/main.ts", ROOT)), ...args],
    cwd: options.cwd ?? fromFileUrl(ROOT),
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  });
  const output = await command.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
