/**
 * Provenance facts for run records: suite version, git commit, Deno, machine.
 * @module
 */
import { cpus, hostname, totalmem } from "node:os";
import denoConfig from "../deno.json" with { type: "json" };

/** The suite's version from deno.json. */
export const SUITE_VERSION: string = denoConfig.version;

/** The git commit of the code that runs, with "-dirty" when the tree has changes; undefined outside git. */
export async function gitCommit(): Promise<string | undefined> {
  const root = new URL("../", import.meta.url);
  const run = async (args: string[]) => {
    const output = await new Deno.Command("git", {
      args,
      cwd: root,
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  };
  try {
    const commit = await run(["rev-parse", "HEAD"]);
    if (!commit) return undefined;
    const status = await run(["status", "--porcelain", "--untracked-files=no"]);
    return status ? `${commit}-dirty` : commit;
  } catch {
    return undefined;
  }
}

/** The machine a run executed on. */
export function machineDescription(): {
  os: string;
  arch: string;
  cpus: number;
  memoryBytes: number;
  hostname?: string;
  cpuModel?: string;
} {
  const cpuList = cpus();
  return {
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: cpuList.length,
    memoryBytes: totalmem(),
    hostname: hostname(),
    cpuModel: cpuList[0]?.model,
  };
}

/** sha256 of bytes, hex (moved to core/hash.ts; re-exported for existing importers). */
export { sha256Hex } from "../core/hash.ts";
