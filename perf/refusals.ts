/**
 * `deno task perf:refusals`: builds each hostile input of issue #17 at full size in a temporary
 * folder and refuses it in a fresh process, printing that process's peak resident memory (Linux
 * VmHWM) and the refusal message. Memory, not time: the goal is that every refusal stays under
 * 300 MB however large the input claims to be. Nothing is timed.
 *
 * Options: --only NAME (one input), --keep (keep the temporary folder)
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Deflate } from "fflate";
import { peakRssBytes } from "../benchmarks/stage_timer.ts";
import { decodeImage } from "../models/image/decode.ts";
import { readCheckpoint, readFloatTensors } from "../models/checkpoint/mod.ts";
import { extractArchive } from "../datasets/extract.ts";
import { loadCocoJson } from "../datasets/coco_json.ts";
import { readNpyFile } from "../models/npy.ts";
import {
  deepSafetensorsBytes,
  safetensorsBytes,
  writeAliasedCheckpoint,
} from "../tests/hostile/checkpoints.ts";
import { paxBombTar } from "../tests/hostile/archives.ts";

/** Each input: how to build it (into `path`) and how the suite reads it. */
const INPUTS: Record<
  string,
  {
    file: string;
    build: (path: string) => Promise<void>;
    read: (path: string, dir: string) => Promise<unknown>;
  }
> = {
  "png-20000x20000": {
    file: "bomb.png",
    build: async (path) => await Deno.writeFile(path, await pngBomb(20000, 20000)),
    read: async (path) => await decodeImage(await Deno.readFile(path), path),
  },
  "jpeg-65000x65000": {
    file: "bomb.jpg",
    build: async (path) => await Deno.writeFile(path, jpegHeader(65000, 65000)),
    read: async (path) => await decodeImage(await Deno.readFile(path), path),
  },
  "pth-256-overlapping-views-of-4MiB": {
    file: "aliased.pth",
    build: (path) => writeAliasedCheckpoint(path, 256, false),
    read: (path) => readFloatTensors(path),
  },
  "pth-256-names-one-4MiB-view (accepted)": {
    file: "tied.pth",
    build: (path) => writeAliasedCheckpoint(path, 256, true),
    read: async (path) => (await readFloatTensors(path)).size,
  },
  "safetensors-256-overlapping-4MiB": {
    file: "overlap.safetensors",
    build: async (path) => {
      const header = Object.fromEntries(
        Array.from({ length: 256 }, (_, i) => [`t${i}`, {
          dtype: "F32",
          shape: [2 ** 20],
          data_offsets: [0, 2 ** 22],
        }]),
      );
      await Deno.writeFile(path, safetensorsBytes(header, 2 ** 22));
    },
    read: (path) => readFloatTensors(path),
  },
  "safetensors-header-nested-1M-deep": {
    file: "deep.safetensors",
    build: async (path) => await Deno.writeFile(path, deepSafetensorsBytes(1_000_000)),
    read: async (path) => (await readCheckpoint(path)).close(),
  },
  "dataset-json-nested-5M-deep": {
    file: "deep.json",
    build: async (path) =>
      await Deno.writeTextFile(path, `{"images": ${"[".repeat(5e6)}${"]".repeat(5e6)}}`),
    read: (path) => loadCocoJson(path),
  },
  "npy-declaring-1e18-elements": {
    file: "huge.npy",
    build: async (path) => await Deno.writeFile(path, npyHeader("(1000000000, 1000000000)")),
    read: (path) => readNpyFile(path),
  },
  "tar.gz-256MiB-pax-header": {
    file: "pax.tar.gz",
    build: async (path) => await Deno.writeFile(path, await gzipChunked(paxBombTar(2 ** 28))),
    read: (path, dir) => extractArchive(path, join(dir, "out-pax")),
  },
  "zip-entry-declaring-10-bytes-inflating-200MiB": {
    file: "bomb.zip",
    build: (path) => writeZipBomb(path, 200 * 2 ** 20, 10),
    read: (path, dir) => extractArchive(path, join(dir, "out-zip")),
  },
};

// ---- builders ------------------------------------------------------------------------------

function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A valid-looking RGB PNG of `width` x `height` whose IDAT holds the first rows' zeros. */
async function pngBomb(width: number, height: number): Promise<Uint8Array> {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = new Uint8Array((1 + 3 * width) * 1024); // zeros: filter 0, black
  const idat = new Uint8Array(
    await new Response(new Blob([rows]).stream().pipeThrough(new CompressionStream("deflate")))
      .arrayBuffer(),
  );
  const signature = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const parts = [
    signature,
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array()),
  ];
  return new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
}

function jpegHeader(width: number, height: number): Uint8Array {
  const sof = [0xff, 0xc0, 0, 17, 8, height >> 8, height & 255, width >> 8, width & 255, 3];
  return new Uint8Array([0xff, 0xd8, ...sof, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9]);
}

function npyHeader(shape: string): Uint8Array {
  const text = new TextEncoder().encode(
    `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }\n`,
  );
  const out = new Uint8Array(10 + text.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(text, 10);
  return out;
}

/** gzip of bytes, fed in 16 MiB pieces. */
async function gzipChunked(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 1 << 24) {
        controller.enqueue(bytes.slice(at, at + (1 << 24)));
      }
      controller.close();
    },
  }).pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A one-entry deflated zip whose entry inflates to `real` zero bytes but declares `declared`. */
async function writeZipBomb(path: string, real: number, declared: number): Promise<void> {
  const pieces: BlobPart[] = [];
  const deflate = new Deflate({ level: 9 }, (chunk) => pieces.push(chunk.slice()));
  const zeros = new Uint8Array(1 << 20);
  for (let done = 0; done < real; done += zeros.length) {
    deflate.push(zeros, done + zeros.length >= real);
  }
  const data = new Uint8Array(await new Blob(pieces).arrayBuffer());
  const name = new TextEncoder().encode("bomb.bin");
  const local = new DataView(new ArrayBuffer(30));
  local.setUint32(0, 0x04034b50, true);
  local.setUint16(4, 20, true);
  local.setUint16(8, 8, true);
  local.setUint32(18, data.length, true);
  local.setUint32(22, declared, true);
  local.setUint16(26, name.length, true);
  const central = new DataView(new ArrayBuffer(46));
  central.setUint32(0, 0x02014b50, true);
  central.setUint16(10, 8, true);
  central.setUint32(20, data.length, true);
  central.setUint32(24, declared, true);
  central.setUint16(28, name.length, true);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, 1, true);
  end.setUint16(10, 1, true);
  end.setUint32(12, 46 + name.length, true);
  end.setUint32(16, 30 + name.length + data.length, true);
  await Deno.writeFile(
    path,
    new Uint8Array(
      await new Blob([local.buffer, name, data, central.buffer, name, end.buffer]).arrayBuffer(),
    ),
  );
}

// ---- driver --------------------------------------------------------------------------------

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    keep: { type: "boolean" },
    child: { type: "string" },
    path: { type: "string" },
    dir: { type: "string" },
  },
  strict: true,
});

if (values.child) {
  // the child: read one input the way the suite does, report the outcome and peak memory
  let outcome: string;
  try {
    const result = await INPUTS[values.child].read(values.path!, values.dir!);
    outcome = `accepted (${typeof result === "number" ? `${result} tensors` : "ok"})`;
  } catch (error) {
    outcome = `refused: ${(error as Error).message.replaceAll(values.dir!, "…")}`;
  }
  console.log(JSON.stringify({ outcome, peak: peakRssBytes() }));
  Deno.exit(0);
}

const names = values.only ? [values.only] : Object.keys(INPUTS);
for (const name of names) {
  if (!INPUTS[name]) {
    throw new Error(`unknown input '${name}'; known: ${Object.keys(INPUTS).join(", ")}`);
  }
}
const dir = await Deno.makeTempDir({ prefix: "perf-refusals-" });
const self = fileURLToPath(import.meta.url);
const MiB = 2 ** 20;
console.log(
  `peak resident memory of refusing each hostile input (fresh process each; limit 300 MB)\n`,
);
console.log(`${"input".padEnd(46)} ${"file".padStart(10)} ${"peak RSS".padStart(10)}  outcome`);
try {
  // the baseline: a process that imports the same modules and reads nothing
  for (const name of names) {
    const input = INPUTS[name];
    const path = join(dir, input.file);
    await input.build(path);
    const size = (await Deno.stat(path)).size;
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", self, "--child", name, "--path", path, "--dir", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(child.stdout).trim().split("\n").at(-1) ?? "";
    let line: string;
    try {
      const { outcome, peak } = JSON.parse(text) as { outcome: string; peak: number };
      const flag = peak > 300e6 ? "  OVER 300 MB" : "";
      line = `${(peak / MiB).toFixed(0).padStart(7)} MiB  ${outcome.slice(0, 140)}${flag}`;
    } catch {
      line = `   (failed: ${new TextDecoder().decode(child.stderr).trim().split("\n").at(-1)})`;
    }
    const shown = size >= MiB
      ? `${(size / MiB).toFixed(1)} MiB`
      : `${(size / 1024).toFixed(0)} KiB`;
    console.log(`${name.padEnd(46)} ${shown.padStart(10)} ${line}`);
    await Deno.remove(path).catch(() => {});
  }
} finally {
  if (!values.keep) await Deno.remove(dir, { recursive: true });
  else console.log(`kept ${dir}`);
}
