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

/** sha256 of bytes, hex. */
export async function sha256Hex(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
