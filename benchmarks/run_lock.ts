/**
 * One writer per run folder: `run.lock`, created atomically (`createNew`) with the holder's pid,
 * host and start time, held for the whole run and removed at its end (also when it fails). A
 * second writer fails at once naming the holder; the lock of a process that no longer runs on
 * this host is taken over with a warning.
 *
 * @module
 */
import { hostname } from "node:os";
import { join, resolve } from "node:path";

/** The lock's file name inside a run folder. */
export const LOCK_FILE = "run.lock";

/** Who holds a run folder. */
export interface RunLockHolder {
  /** Process id. */
  pid: number;
  /** Host name. */
  host: string;
  /** When it took the lock (ISO 8601). */
  startedAt: string;
  /** Its command line, where known. */
  command?: string[];
}

/** Another writer holds the run folder (exit 1). */
export class RunLockedError extends Error {
  /** The error's name, for messages and `instanceof`-free checks. */
  override name = "RunLockedError";
}

/** Folders this process holds, and as whom (a second run in this process is a second writer). */
const heldHere = new Map<string, RunLockHolder>();

/** Whether process `pid` runs on this host; undefined where that cannot be told. */
function processAlive(pid: number): boolean | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

function parseHolder(text: string): RunLockHolder | undefined {
  try {
    const data = JSON.parse(text);
    if (
      Number.isInteger(data?.pid) && data.pid > 0 && typeof data.host === "string" &&
      typeof data.startedAt === "string"
    ) {
      return data as RunLockHolder;
    }
  } catch {
    // an unreadable lock is reported as such below
  }
  return undefined;
}

function describeHolder(holder: RunLockHolder): string {
  return `pid ${holder.pid} on ${holder.host} since ${holder.startedAt}${
    holder.command ? ` (${holder.command.join(" ")})` : ""
  }`;
}

/** A held run-folder lock. */
export class RunLock {
  /** The lock file. */
  readonly path: string;
  /** This process, as written in the lock. */
  readonly holder: RunLockHolder;
  readonly #key: string;
  #released = false;

  /** A held lock (made by {@link acquireRunLock}). */
  constructor(path: string, holder: RunLockHolder, key: string) {
    this.path = path;
    this.holder = holder;
    this.#key = key;
  }

  /** Removes the lock (when it is still this holder's). Safe to call twice. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    heldHere.delete(this.#key);
    try {
      const current = parseHolder(await Deno.readTextFile(this.path));
      if (
        current && current.pid === this.holder.pid && current.startedAt === this.holder.startedAt
      ) {
        await Deno.remove(this.path);
      }
    } catch {
      // already gone
    }
  }
}

async function createLock(path: string, holder: RunLockHolder): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(holder) + "\n");
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.syncData();
  } finally {
    file.close();
  }
  return true;
}

/**
 * Takes the lock of run folder `dir` (which must exist) for this process. Throws
 * {@link RunLockedError} naming the holder when another live writer has it; takes over, with a
 * warning, the lock of a process that is gone from this host.
 */
export async function acquireRunLock(
  dir: string,
  options: { warn: (line: string) => void; command?: string[] },
): Promise<RunLock> {
  const key = resolve(dir);
  const path = join(dir, LOCK_FILE);
  const holder: RunLockHolder = {
    pid: Deno.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    ...(options.command ? { command: options.command } : {}),
  };
  const ours = heldHere.get(key);
  if (ours) {
    throw new RunLockedError(
      `${dir} is being written by ${
        describeHolder(ours)
      }, another run of this process; wait for it to finish or choose another --out`,
    );
  }
  for (let attempt = 0; attempt < 4; attempt++) {
    if (await createLock(path, holder)) {
      heldHere.set(key, holder);
      return new RunLock(path, holder, key);
    }
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // released meanwhile: try again
      throw error;
    }
    const other = parseHolder(text);
    if (!other) {
      throw new RunLockedError(
        `${path}: a lock that cannot be read (got ${JSON.stringify(text.slice(0, 80))}); ` +
          `if no run is writing ${dir}, remove the file and run again`,
      );
    }
    const sameHost = other.host === holder.host;
    // This process's own pid in a lock it does not hold is a pid reused after a restart.
    const gone = sameHost &&
      (other.pid === Deno.pid || processAlive(other.pid) === false);
    if (!gone) {
      throw new RunLockedError(
        `${dir} is being written by ${describeHolder(other)} (lock ${path}); ` +
          (sameHost
            ? `wait for it to finish or choose another --out`
            : `a process on another host cannot be checked: if it is gone, remove the lock and run again`),
      );
    }
    // The holder is gone: move its lock aside (one taker wins the rename), then take ours.
    const aside = `${path}.stale-${Deno.pid}`;
    try {
      await Deno.rename(path, aside);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // another taker was first
      throw error;
    }
    const moved = parseHolder(await Deno.readTextFile(aside).catch(() => ""));
    if (!moved || moved.pid !== other.pid || moved.startedAt !== other.startedAt) {
      // a live writer's lock replaced the stale one meanwhile: put it back, judge again
      await Deno.rename(aside, path).catch(() => {});
      continue;
    }
    await Deno.remove(aside).catch(() => {});
    options.warn(
      `${dir}: took over the lock of ${
        describeHolder(other)
      }, which no longer runs (a killed run?)`,
    );
  }
  throw new RunLockedError(`${dir}: could not take the lock ${path}; run again`);
}
