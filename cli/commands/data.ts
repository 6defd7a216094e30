/**
 * `deno task data odinw|coco|lvis|flickr30k`: downloads a dataset's public files into the data
 * root with resume, size/sha256 checks where known, and zip/tar extraction.
 *
 * @module
 */
import { basename, join } from "node:path";
import { booleanFlag, listFlag, parseCommandArgs, stringFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, info, out, outJson, type Progress, progress, warn } from "../output.ts";
import { InputError, UsageError } from "../../core/errors.ts";
import { unknownNameMessage } from "../../core/did_you_mean.ts";
import { describeDataRoot, resolveDataRoot } from "../../datasets/data_root.ts";
import { DATA_SOURCES, dataSource, type RemoteFile } from "../../datasets/sources.ts";
import { downloadFile, sha256File } from "../../datasets/download.ts";
import {
  checkOrRecord,
  DATA_LOCK_FILE,
  type DataLock,
  readDataLock,
  writeDataLock,
} from "../../datasets/data_lock.ts";
import { extractArchive } from "../../datasets/extract.ts";
import { pathExists } from "../../core/fs.ts";
import { writeFileAtomic } from "../../core/atomic_file.ts";

const HELP = `deno task data odinw|coco|lvis|flickr30k [--data DIR] [--tasks A,B] [--mirror URL]
deno task data --verify [odinw|coco|lvis|flickr30k] [--data DIR]

Examples:
  deno task data odinw                         all ODinW archives (GLIP's odinw/download.py list)
  deno task data odinw --tasks Aquarium,pothole
  deno task data coco --data /mnt/DATASET      COCO val2017 images and 2017 annotations
  deno task data flickr30k --json
  deno task data --verify                      check every file against the data lock

Downloads resume after an interruption (HTTP Range on <file>.part, with If-Range so a changed
file starts over); files are checked against their known size and sha256; archives are unpacked
in GLIP's layout and then removed. The size and sha256 of every file downloaded are recorded in
DATA_ROOT/${DATA_LOCK_FILE} the first time (trust on first use) and checked on every later
download (copy the lock file to another machine to get the same bytes there) and by --verify.
A plain http:// URL (a mirror, or an official host) is used only for files whose sha256 is
pinned (built in, or in the lock), or from this machine (localhost).

Options:
  --data DIR       data root (default: $GLIP_BENCH_DATA, then ./DATASET)
  --tasks A,B      (odinw) only these archives
  --mirror URL     fetch every file by its name from this base URL instead of the official host
  --keep-archives  keep zip/tar files after unpacking
  --verify         check the files in the data lock (kept archives by their bytes, unpacked ones
                   by the sha256 their unpack marker recorded); exit 1 on any difference
  --json           print the results as JSON on stdout
  --config FILE    JSON file with defaults for these options

Datasets: ${Object.keys(DATA_SOURCES).join(", ")}`;

/** The URL a file is fetched from, honouring `--mirror`. */
export function sourceUrl(file: RemoteFile, mirror?: string): string {
  if (!mirror) return file.url;
  const base = mirror.endsWith("/") ? mirror : `${mirror}/`;
  return new URL(basename(new URL(file.url).pathname), base).href;
}

/** Whether a URL is plain http to another machine (loopback mirrors are this machine). */
export function insecureUrl(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === "http:" &&
    !["localhost", "127.0.0.1", "[::1]"].includes(parsed.hostname);
}

/** The extraction marker of a file that is an archive, under the data root. */
function markerOf(root: string, file: RemoteFile): string | undefined {
  return file.extractTo
    ? join(root, file.extractTo, `.${basename(file.path)}.extracted`)
    : undefined;
}

/**
 * `--verify`: every locked file (of one dataset, or all) against its record. Kept files are
 * hashed; unpacked archives are checked by the sha256 their marker recorded.
 */
async function verifyDataRoot(
  root: string,
  lock: DataLock,
  only: RemoteFile[] | undefined,
  json: boolean,
): Promise<number> {
  if (lock.files.size === 0) {
    throw new InputError("nothing to verify: the data lock is missing or empty", {
      file: lock.path,
    });
  }
  const known = new Map(
    Object.values(DATA_SOURCES).flatMap((s) => s.files).map((f) => [f.path, f]),
  );
  const wanted = only ? new Set(only.map((f) => f.path)) : undefined;
  const rows: { path: string; status: string; ok: boolean }[] = [];
  for (const [path, locked] of lock.files) {
    if (wanted && !wanted.has(path)) continue;
    const file = join(root, path);
    const marker = known.has(path) ? markerOf(root, known.get(path)!) : undefined;
    let status: string;
    let ok = false;
    if (await pathExists(file)) {
      const size = (await Deno.stat(file)).size;
      const sha256 = await sha256File(file);
      ok = size === locked.size && sha256 === locked.sha256;
      status = ok
        ? "ok"
        : `DIFFERS: expected ${locked.size} bytes, sha256 ${locked.sha256}; got ${size} bytes, sha256 ${sha256}`;
    } else if (marker && await pathExists(marker)) {
      const recorded = (await Deno.readTextFile(marker)).trim();
      ok = recorded === locked.sha256;
      status = ok
        ? "ok (unpacked; its marker records the locked sha256)"
        : `DIFFERS: unpacked from sha256 ${recorded}, the lock says ${locked.sha256}`;
    } else {
      status = "MISSING";
    }
    rows.push({ path, status, ok });
  }
  if (json) outJson({ lock: lock.path, files: rows });
  else out(formatTable(["file", "status"], rows.map((r) => [r.path, r.status])));
  const bad = rows.filter((r) => !r.ok);
  if (bad.length > 0) {
    throw new InputError(
      `${bad.length} of ${rows.length} file(s) do not match the lock: ${
        bad.slice(0, 5).map((r) => `${r.path} (${r.status})`).join("; ")
      }`,
      { file: lock.path },
    );
  }
  return 0;
}

/** A progress bar for one download, created once the total is known. */
function downloadProgress(label: string) {
  let bar: Progress | undefined;
  let last = 0;
  return {
    tick(done: number, total: number | undefined) {
      last = done;
      bar ??= progress(label, Math.max(1, Math.round((total ?? 0) / 2 ** 20)), "MiB");
      bar.tick(Math.round(done / 2 ** 20));
    },
    end() {
      if (bar) bar.end(`(${(last / 2 ** 20).toFixed(1)} MiB)`);
    },
  };
}

/** The `data` subcommand. */
export const command: Command = {
  name: "data",
  summary: "download a dataset (odinw, coco, lvis, flickr30k) with resume and sha256 checks",
  async run(args) {
    const parsed = await parseCommandArgs("data", args, {
      data: { type: "string" },
      tasks: { type: "string" },
      mirror: { type: "string" },
      "keep-archives": { type: "boolean" },
      verify: { type: "boolean" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const name = parsed.positionals[0];
    if (booleanFlag(parsed, "verify")) {
      const root = resolveDataRoot(stringFlag(parsed, "data"));
      return await verifyDataRoot(
        root.path,
        await readDataLock(root.path),
        name ? dataSource(name).files : undefined,
        booleanFlag(parsed, "json"),
      );
    }
    if (!name) {
      throw new UsageError(
        `data: say which dataset: ${Object.keys(DATA_SOURCES).join(", ")}. See 'data --help'.`,
      );
    }
    const source = dataSource(name);
    const root = resolveDataRoot(stringFlag(parsed, "data"));
    const mirror = stringFlag(parsed, "mirror");
    if (mirror && !/^https?:\/\//.test(mirror)) {
      throw new UsageError(`data: --mirror must be an http(s) URL (got '${mirror}')`);
    }
    const tasks = listFlag(parsed, "tasks");
    let files = source.files;
    if (tasks) {
      const groups = files.map((f) => f.group).filter((g): g is string => g !== undefined);
      if (groups.length === 0) throw new UsageError(`data: --tasks applies to odinw only`);
      for (const task of tasks) {
        if (!groups.includes(task)) {
          throw new UsageError(`data: ${unknownNameMessage("ODinW archive", task, groups)}`);
        }
      }
      files = files.filter((f) => tasks.includes(f.group!));
    }
    info(`data root: ${describeDataRoot(root)}`);
    const lock = await readDataLock(root.path);
    const unpinned = files.filter((file) =>
      insecureUrl(sourceUrl(file, mirror)) && !(file.sha256 ?? lock.files.get(file.path)?.sha256)
    );
    if (unpinned.length > 0) {
      throw new UsageError(
        `data: refusing plain http:// for ${unpinned.length} file(s) with no pinned sha256 (${
          unpinned.slice(0, 3).map((f) => sourceUrl(f, mirror)).join(", ")
        }${
          unpinned.length > 3 ? ", ..." : ""
        }): anyone on the way could change them. Use an https:// mirror, or put a ${DATA_LOCK_FILE} that pins them in the data root`,
      );
    }
    const results = [];
    for (const file of files) {
      const dest = join(root.path, file.path);
      const marker = markerOf(root.path, file);
      if (marker && await pathExists(marker)) {
        info(`${file.path}: already unpacked (remove ${marker} to fetch again)`);
        results.push({ path: file.path, status: "already unpacked", bytes: 0, sha256: "" });
        continue;
      }
      const url = sourceUrl(file, mirror);
      const bar = downloadProgress(file.path);
      const locked = lock.files.get(file.path);
      const downloaded = await downloadFile(url, dest, {
        sha256: file.sha256 ?? locked?.sha256,
        size: file.size ?? locked?.size,
        pinnedBy: file.sha256 ? undefined : locked && lock.path,
        onProgress: bar.tick,
      });
      bar.end();
      const actual = { size: downloaded.bytes, sha256: downloaded.sha256, url };
      if (checkOrRecord(lock, file.path, actual, dest)) await writeDataLock(lock);
      if (downloaded.resumedFrom > 0) {
        info(`${file.path}: resumed from byte ${downloaded.resumedFrom}`);
      }
      let status = downloaded.alreadyPresent ? "already present" : "downloaded";
      if (file.extractTo && marker) {
        const target = join(root.path, file.extractTo);
        const count = await extractArchive(dest, target);
        // the marker says "unpacked from these bytes": written whole or not at all
        await writeFileAtomic(marker, `${downloaded.sha256}\n`);
        if (!booleanFlag(parsed, "keep-archives")) await Deno.remove(dest);
        info(`${file.path}: unpacked ${count} files into ${target}`);
        status += `, unpacked ${count} files`;
      }
      results.push({ path: file.path, status, bytes: downloaded.bytes, sha256: downloaded.sha256 });
    }
    for (const step of source.manual ?? []) warn(`not downloadable automatically: ${step}`);
    if (booleanFlag(parsed, "json")) {
      outJson({
        dataset: source.name,
        root: root.path,
        files: results,
        manual: source.manual ?? [],
      });
    } else {
      out(formatTable(
        ["file", "status", "bytes", "sha256"],
        results.map((r) => [r.path, r.status, r.bytes, r.sha256]),
      ));
    }
    return 0;
  },
};
