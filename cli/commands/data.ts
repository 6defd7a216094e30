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
import { UsageError } from "../../core/errors.ts";
import { unknownNameMessage } from "../../core/did_you_mean.ts";
import { describeDataRoot, resolveDataRoot } from "../../datasets/data_root.ts";
import { DATA_SOURCES, dataSource, type RemoteFile } from "../../datasets/sources.ts";
import { downloadFile } from "../../datasets/download.ts";
import { extractArchive } from "../../datasets/extract.ts";
import { pathExists } from "../../core/fs.ts";

const HELP = `deno task data odinw|coco|lvis|flickr30k [--data DIR] [--tasks A,B] [--mirror URL]

Examples:
  deno task data odinw                         all ODinW archives (GLIP's odinw/download.py list)
  deno task data odinw --tasks Aquarium,pothole
  deno task data coco --data /mnt/DATASET      COCO val2017 images and 2017 annotations
  deno task data flickr30k --json

Downloads resume after an interruption (HTTP Range on <file>.part); files are checked against
their known size and sha256 (the sha256 of every file is printed so it can be pinned); archives
are unpacked in GLIP's layout and then removed.

Options:
  --data DIR       data root (default: $GLIP_BENCH_DATA, then ./DATASET)
  --tasks A,B      (odinw) only these archives
  --mirror URL     fetch every file by its name from this base URL instead of the official host
  --keep-archives  keep zip/tar files after unpacking
  --json           print the results as JSON on stdout
  --config FILE    JSON file with defaults for these options

Datasets: ${Object.keys(DATA_SOURCES).join(", ")}`;

/** The URL a file is fetched from, honouring `--mirror`. */
export function sourceUrl(file: RemoteFile, mirror?: string): string {
  if (!mirror) return file.url;
  const base = mirror.endsWith("/") ? mirror : `${mirror}/`;
  return new URL(basename(new URL(file.url).pathname), base).href;
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
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const name = parsed.positionals[0];
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
    const results = [];
    for (const file of files) {
      const dest = join(root.path, file.path);
      const marker = file.extractTo
        ? join(root.path, file.extractTo, `.${basename(file.path)}.extracted`)
        : undefined;
      if (marker && await pathExists(marker)) {
        info(`${file.path}: already unpacked (remove ${marker} to fetch again)`);
        results.push({ path: file.path, status: "already unpacked", bytes: 0, sha256: "" });
        continue;
      }
      const url = sourceUrl(file, mirror);
      const bar = downloadProgress(file.path);
      const downloaded = await downloadFile(url, dest, {
        sha256: file.sha256,
        size: file.size,
        onProgress: bar.tick,
      });
      bar.end();
      if (downloaded.resumedFrom > 0) {
        info(`${file.path}: resumed from byte ${downloaded.resumedFrom}`);
      }
      let status = downloaded.alreadyPresent ? "already present" : "downloaded";
      if (file.extractTo && marker) {
        const target = join(root.path, file.extractTo);
        const count = await extractArchive(dest, target);
        await Deno.writeTextFile(marker, `${downloaded.sha256}\n`);
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
