/**
 * Training state that survives a crash at any point: after each epoch the tuner commits its
 * files (weights, optimizer moments, ...) into an epoch folder, each through a temporary file and
 * a rename, and then, last, a state file that names the sha256 of every one of them. On resume
 * the newest state whose files all match their digests wins; a state with a missing or changed
 * file is skipped (with a log line) for the one before it, which is kept until the next epoch is
 * committed. So a kill between any two writes resumes from a consistent epoch, and a tuner that
 * derives every random choice from (seed, epoch) ends with the same weights as an uninterrupted
 * run.
 *
 * Layout of the state folder: `epoch-0003/<file>` and `state-0003.json`.
 *
 * @module
 */
import { join } from "node:path";
import { sha256File } from "../../core/hash.ts";
import { writeFileAtomic, writeViaTemporary } from "../../core/atomic_file.ts";

/** One file of an epoch's state: its name in the epoch folder and how to write it to a path. */
export interface StateFile {
  name: string;
  write(path: string): Promise<void>;
}

/** A committed epoch read back: its state and where its (verified) files lie. */
export interface CommittedState<S> {
  epoch: number;
  state: S;
  /** The path of one of the epoch's files. */
  file(name: string): string;
}

/** Options of a {@link StateStore}. */
export interface StateStoreOptions {
  /** Progress and fallback messages. */
  log?: (line: string) => void;
  /**
   * Called after every file the store writes or removes (`epoch-0003/weights.safetensors`,
   * `state-0003.json`, `pruned epoch 1`); tests throw here to simulate a crash at that point.
   */
  afterWrite?: (what: string) => void | Promise<void>;
}

const STATE = /^state-(\d{4,})\.json$/;
const FOLDER = /^epoch-(\d{4,})$/;
const pad = (epoch: number) => String(epoch).padStart(4, "0");
/** -Infinity (the plateau's initial best) is not JSON. */
const encode = (value: unknown) =>
  JSON.stringify(value, (_, v) => (v === -Infinity ? -1e308 : v)) + "\n";

/** Per-epoch training state in a folder (see the module documentation). */
export class StateStore<S> {
  readonly #log: (line: string) => void;
  readonly #afterWrite: (what: string) => void | Promise<void>;

  constructor(readonly dir: string, options: StateStoreOptions = {}) {
    this.#log = options.log ?? (() => {});
    this.#afterWrite = options.afterWrite ?? (() => {});
  }

  /**
   * Commits epoch `epoch`: writes `files` into its folder, then the state file naming their
   * digests, then removes the epochs before the previous one.
   */
  async commit(epoch: number, files: StateFile[], state: S): Promise<void> {
    const folder = `epoch-${pad(epoch)}`;
    await Deno.mkdir(join(this.dir, files.length ? folder : ""), { recursive: true });
    const digests: Record<string, string> = {};
    for (const file of files) {
      const path = join(this.dir, folder, file.name);
      await writeViaTemporary(path, file.write);
      digests[`${folder}/${file.name}`] = await sha256File(path);
      await this.#afterWrite(`${folder}/${file.name}`);
    }
    const stateName = `state-${pad(epoch)}.json`;
    await writeFileAtomic(
      join(this.dir, stateName),
      encode({ format: "glip-bench-training-state", epoch, files: digests, state }),
    );
    await this.#afterWrite(stateName);
    for (const older of await this.#epochs(true)) {
      if (older >= epoch - 1) continue;
      // the state file first: a state never outlives its files
      await Deno.remove(join(this.dir, `state-${pad(older)}.json`)).catch(() => {});
      await Deno.remove(join(this.dir, `epoch-${pad(older)}`), { recursive: true }).catch(() => {});
      await this.#afterWrite(`pruned epoch ${older}`);
    }
  }

  /**
   * The newest committed epoch whose files match the digests its state names, or undefined
   * when there is none. Inconsistent states are reported through `log` and skipped; temporary
   * files of an interrupted write are removed.
   */
  async latest(): Promise<CommittedState<S> | undefined> {
    await this.#removeTemporaries();
    for (const epoch of (await this.#epochs()).sort((a, b) => b - a)) {
      const stateName = `state-${pad(epoch)}.json`;
      const problem = await this.#inconsistency(stateName, epoch);
      if (typeof problem === "string") {
        this.#log(`${join(this.dir, stateName)}: ${problem}; falling back to the epoch before`);
        continue;
      }
      const folder = join(this.dir, `epoch-${pad(epoch)}`);
      return { epoch, state: problem.state as S, file: (name) => join(folder, name) };
    }
    return undefined;
  }

  /** What is wrong with a state file, or its parsed content when it and its files agree. */
  async #inconsistency(
    stateName: string,
    epoch: number,
  ): Promise<string | { state: unknown }> {
    let saved: { format?: unknown; epoch?: unknown; files?: unknown; state?: unknown };
    try {
      saved = JSON.parse(await Deno.readTextFile(join(this.dir, stateName)));
    } catch (error) {
      return `unreadable (${(error as Error).message})`;
    }
    if (
      saved?.format !== "glip-bench-training-state" || saved.epoch !== epoch ||
      typeof saved.files !== "object" || saved.files === null || saved.state === undefined
    ) {
      return "not a training state of this epoch";
    }
    for (const [name, digest] of Object.entries(saved.files as Record<string, unknown>)) {
      if (!name.startsWith(`epoch-${pad(epoch)}/`) || name.includes("..")) {
        return `names a file outside its epoch folder (${name})`;
      }
      let actual: string;
      try {
        actual = await sha256File(join(this.dir, name));
      } catch {
        return `its file ${name} is missing`;
      }
      if (actual !== digest) return `its file ${name} has sha256 ${actual}, not ${digest}`;
    }
    return { state: saved.state };
  }

  /** Epoch numbers with a state file (and, with `folders`, with an epoch folder). */
  async #epochs(folders = false): Promise<number[]> {
    const epochs = new Set<number>();
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        const match = entry.isFile
          ? STATE.exec(entry.name)
          : folders && entry.isDirectory
          ? FOLDER.exec(entry.name)
          : null;
        if (match) epochs.add(Number(match[1]));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return [...epochs];
  }

  async #removeTemporaries(): Promise<void> {
    const remove = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.includes(".tmp-")) {
          await Deno.remove(join(dir, entry.name), { recursive: true });
        } else if (entry.isDirectory && entry.name.startsWith("epoch-")) {
          await remove(join(dir, entry.name));
        }
      }
    };
    try {
      await remove(this.dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}
