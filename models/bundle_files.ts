/**
 * The files of a bundle, checked before use: every path a bundle names (manifest entries, graph
 * files, ONNX external-data `location`s) must stay inside the bundle folder, and every file the
 * manifest lists must have the size and sha256 it records. Bundle loading, the weight reader,
 * the tuned-bundle writer and every engine go through these functions; none joins a bundle path
 * itself.
 *
 * Digests are remembered in a {@link DigestCache} (by real path, size, times and inode), so a
 * multi-gigabyte bundle is hashed once, not on every run.
 *
 * @module
 */
import { isAbsolute, join, relative, sep } from "node:path";
import onnxProto from "onnx-proto";
import { InputError } from "../core/errors.ts";
import { DigestCache } from "../core/digest_cache.ts";
import { sha256Hex } from "../core/hash.ts";
import type { BundleManifest, GraphFile, ModelBundle } from "./bundle.ts";

type TensorProto = onnxProto.onnx.ITensorProto;

/** Where verified digests are remembered. */
export interface VerifyOptions {
  /**
   * The cache folder for remembered digests; `null` keeps them in memory only (every file is
   * hashed). @default DEFAULT_CACHE_DIR (the project's `.cache/`)
   */
  cacheDir?: string | null;
}

/** What a verification did: which files were read and hashed and which came from the cache. */
export interface VerificationReport {
  /** The bundle's digest (see {@link digestOfFiles}) from the verified bytes. */
  digest: string;
  /** Files hashed now (relative paths). */
  hashed: string[];
  /** Files whose stat matched a remembered digest. */
  cached: string[];
  /** Bytes read while hashing. */
  hashedBytes: number;
  /** Seconds spent verifying (stat, hashing, graph checks). */
  seconds: number;
}

/** Verified digests by manifest object: bundleDigest() answers only for these. */
const verifiedManifests = new WeakMap<BundleManifest, string>();

/** The digest recorded when `manifest` was verified, or undefined. */
export function verifiedDigestOf(manifest: BundleManifest): string | undefined {
  return verifiedManifests.get(manifest);
}

/** sha256 over `name:sha256` lines of every file, in name order (the bundle's identity). */
export async function digestOfFiles(sha256: Record<string, string>): Promise<string> {
  return await sha256Hex(Object.keys(sha256).sort().map((k) => `${k}:${sha256[k]}`).join("\n"));
}

/** Why `name` may not be used as a path inside a bundle, or undefined when it may. */
function unsafeRelativePath(name: unknown): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "is not a file name";
  if (name.includes("\0")) return "contains a NUL character";
  if (isAbsolute(name) || /^[A-Za-z]:/.test(name) || name.startsWith("\\")) {
    return "is absolute";
  }
  if (name.split(/[\\/]/).includes("..")) return "has a '..' segment";
  return undefined;
}

/** Whether `path` is `root` or below it. */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * The path of `name` inside bundle folder `dir`, refused (InputError naming `where`) when `name`
 * is absolute, has a `..` segment, or resolves, symlinks followed, outside the folder. A path
 * that does not exist yet is checked through its nearest existing parent.
 *
 * @example
 * ```ts
 * import { checkedBundlePath } from "./bundle_files.ts";
 * const dir = await Deno.makeTempDir();
 * let refused = false;
 * try {
 *   await checkedBundlePath(dir, "../outside.bin", { file: `${dir}/manifest.json` });
 * } catch {
 *   refused = true;
 * }
 * console.assert(refused);
 * await Deno.remove(dir);
 * ```
 */
export async function checkedBundlePath(
  dir: string,
  name: string,
  where: { file: string; field?: string },
): Promise<string> {
  const problem = unsafeRelativePath(name);
  if (problem) {
    throw new InputError(`the path ${problem}; a bundle may only name files inside its folder`, {
      ...where,
      value: name,
    });
  }
  const root = await Deno.realPath(dir);
  const path = join(dir, name);
  let existing = path;
  let real: string | undefined;
  while (real === undefined) {
    try {
      real = await Deno.realPath(existing);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      const parent = join(existing, "..");
      if (parent === existing) break;
      existing = parent;
    }
  }
  if (real === undefined || !inside(root, real)) {
    throw new InputError(
      `the path resolves to ${
        real ?? existing
      }, outside the bundle folder ${root} (through a symlink)`,
      { ...where, value: name },
    );
  }
  return path;
}

/** The external-data location of a tensor, or undefined when its values are inline. */
function locationOf(tensor: TensorProto): string | undefined {
  const entry = tensor.externalData?.find((e) => e.key === "location");
  return entry ? entry.value ?? "" : undefined;
}

/** Every tensor of a graph that can hold external data: initializers, sparse ones, attributes. */
function* graphTensors(graph: onnxProto.onnx.IGraphProto | null | undefined): Generator<
  TensorProto
> {
  if (!graph) return;
  yield* graph.initializer ?? [];
  for (const sparse of graph.sparseInitializer ?? []) {
    if (sparse.values) yield sparse.values;
    if (sparse.indices) yield sparse.indices;
  }
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      if (attribute.t) yield attribute.t;
      yield* attribute.tensors ?? [];
      yield* graphTensors(attribute.g);
      for (const g of attribute.graphs ?? []) yield* graphTensors(g);
    }
  }
}

/**
 * The external-data files of an ONNX model (bytes or already decoded), by location, each
 * checked with {@link checkedBundlePath} against `dir` (the model's folder). The error names the
 * graph file, the tensor and the location.
 */
export async function externalDataPaths(
  dir: string,
  graphPath: string,
  model: Uint8Array | onnxProto.onnx.ModelProto,
): Promise<Map<string, string>> {
  const decoded = model instanceof Uint8Array ? decodeModel(graphPath, model) : model;
  const paths = new Map<string, string>();
  for (const tensor of graphTensors(decoded.graph)) {
    const location = locationOf(tensor);
    if (location === undefined || paths.has(location)) continue;
    paths.set(
      location,
      await checkedBundlePath(dir, location, {
        file: graphPath,
        field: `tensor ${tensor.name ?? "(unnamed)"}: external_data.location`,
      }),
    );
  }
  return paths;
}

/** Largest ONNX graph file read (protobuf's 2 GiB limit; weights belong in external data). */
const MAX_GRAPH_BYTES = 2 ** 31;

/** The bytes of an ONNX graph file, refused above protobuf's 2 GiB limit before reading. */
export async function readGraphBytes(path: string): Promise<Uint8Array> {
  const { size } = await Deno.stat(path);
  if (size > MAX_GRAPH_BYTES) {
    throw new InputError(`an ONNX graph file of ${size} bytes exceeds protobuf's 2 GiB limit`, {
      file: path,
    });
  }
  return await Deno.readFile(path);
}

/** Decodes an ONNX model, naming the file when it is not one. */
export function decodeModel(path: string, bytes: Uint8Array): onnxProto.onnx.ModelProto {
  try {
    return onnxProto.onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new InputError(`not an ONNX model (${(error as Error).message})`, { file: path });
  }
}

/** The files of one graph, checked and verified, for an engine to open. */
export interface CheckedGraph {
  /** The graph file's path. */
  model: string;
  /** Its external-data files: `location` as the graph names it, `path` where it lies. */
  externalData: { location: string; path: string }[];
}

/**
 * Checks and verifies the files of one graph of a bundle before an engine opens it: the graph
 * file and every external-data location it names must lie inside the bundle folder, be listed
 * in the manifest, and have the listed size and sha256 (remembered digests are reused).
 */
export async function checkedGraphFiles(
  bundle: ModelBundle,
  graph: GraphFile,
  options: VerifyOptions = {},
): Promise<CheckedGraph> {
  const cache = await DigestCache.open(options.cacheDir);
  try {
    const model = await verifiedFile(bundle, graph.file, cache, "graphs.*.file");
    const paths = await externalDataPaths(bundle.dir, model, await readGraphBytes(model));
    const externalData = [];
    for (const [location] of paths) {
      if (!Object.hasOwn(bundle.manifest.sha256, location)) {
        throw new InputError(
          `external data '${location}' is not listed in the manifest's sha256, so it cannot be verified`,
          { file: model, value: location },
        );
      }
      externalData.push({
        location,
        path: await verifiedFile(bundle, location, cache, `sha256[${JSON.stringify(location)}]`),
      });
    }
    return { model, externalData };
  } finally {
    await cache.save();
  }
}

/**
 * The path of one file the manifest lists (the tokenizer vocabulary, a graph), after its path was
 * checked to stay inside the folder and its size and sha256 matched the manifest.
 */
export async function checkedBundleFile(
  bundle: ModelBundle,
  name: string,
  options: VerifyOptions = {},
): Promise<string> {
  const cache = await DigestCache.open(options.cacheDir);
  try {
    return await verifiedFile(bundle, name, cache, `sha256[${JSON.stringify(name)}]`);
  } finally {
    await cache.save();
  }
}

/** The checked path of one listed file after its size and sha256 matched the manifest. */
async function verifiedFile(
  bundle: ModelBundle,
  name: string,
  cache: DigestCache,
  field: string,
  report?: VerificationReport,
): Promise<string> {
  const manifestPath = join(bundle.dir, "manifest.json");
  const path = await checkedBundlePath(bundle.dir, name, { file: manifestPath, field });
  const expected = Object.hasOwn(bundle.manifest.sha256, name)
    ? bundle.manifest.sha256[name]
    : undefined;
  if (typeof expected !== "string") {
    throw new InputError(
      `${name} is not listed in the manifest's sha256, so it cannot be verified`,
      {
        file: manifestPath,
        field,
        value: name,
      },
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    throw new InputError(`missing file ${name} listed in the manifest`, { file: manifestPath });
  }
  if (!info.isFile) {
    throw new InputError(`${name} is not a regular file`, { file: manifestPath, value: name });
  }
  const size = bundle.manifest.sizes?.[name];
  if (size !== undefined && info.size !== size) {
    throw new InputError(
      `the file is ${info.size} bytes but the manifest lists ${size} bytes (truncated or replaced)`,
      { file: path },
    );
  }
  const digest = await cache.digest(path);
  if (report) {
    (digest.fromCache ? report.cached : report.hashed).push(name);
    if (!digest.fromCache) report.hashedBytes += digest.size;
  }
  if (digest.sha256 !== expected) {
    throw new InputError(
      `sha256 mismatch: the manifest lists ${expected}, the file has ${digest.sha256} (corrupted or modified)`,
      { file: path },
    );
  }
  return path;
}

/** The graph files a manifest names (text, image, each head form). */
export function manifestGraphs(manifest: BundleManifest): GraphFile[] {
  return [
    manifest.graphs?.text,
    manifest.graphs?.image,
    ...Object.values(manifest.graphs?.head ?? {}),
  ]
    .filter((g): g is GraphFile => Boolean(g));
}

/**
 * Verifies a whole bundle: every file the manifest lists has its listed size (when listed) and
 * sha256, and every graph's external-data locations stay inside the folder and are listed. On
 * success the manifest object is marked verified (see {@link verifiedDigestOf}).
 */
export async function verifyBundleFiles(
  bundle: ModelBundle,
  options: VerifyOptions = {},
): Promise<VerificationReport> {
  const started = performance.now();
  const manifestPath = join(bundle.dir, "manifest.json");
  const { manifest } = bundle;
  if (typeof manifest.sha256 !== "object" || manifest.sha256 === null) {
    throw new InputError("the manifest lists no sha256 per file", {
      file: manifestPath,
      field: "sha256",
      value: manifest.sha256,
    });
  }
  const report: VerificationReport = {
    digest: "",
    hashed: [],
    cached: [],
    hashedBytes: 0,
    seconds: 0,
  };
  const cache = await DigestCache.open(options.cacheDir);
  try {
    // where the graphs point first (nothing outside the folder is read), then every digest
    for (const graph of manifestGraphs(manifest)) {
      const model = await checkedBundlePath(bundle.dir, graph.file, {
        file: manifestPath,
        field: "graphs.*.file",
      });
      if (!Object.hasOwn(manifest.sha256, graph.file)) {
        throw new InputError(`graph ${graph.file} is not listed in the manifest's sha256`, {
          file: manifestPath,
          value: graph.file,
        });
      }
      const locations = await externalDataPaths(bundle.dir, model, await readGraphBytes(model));
      for (const location of locations.keys()) {
        if (!Object.hasOwn(manifest.sha256, location)) {
          throw new InputError(
            `external data '${location}' is not listed in the manifest's sha256, so it cannot be verified`,
            { file: model, value: location },
          );
        }
      }
      for (const name of graph.externalData ?? []) {
        await checkedBundlePath(bundle.dir, name, { file: manifestPath, field: "externalData" });
      }
    }
    const vocab = manifest.tokenizer?.vocab;
    await checkedBundlePath(bundle.dir, vocab, { file: manifestPath, field: "tokenizer.vocab" });
    if (!Object.hasOwn(manifest.sha256, vocab)) {
      throw new InputError("the tokenizer vocabulary is not listed in the manifest's sha256", {
        file: manifestPath,
        field: "tokenizer.vocab",
        value: vocab,
      });
    }
    for (const name of Object.keys(manifest.sha256).sort()) {
      await verifiedFile(bundle, name, cache, `sha256[${JSON.stringify(name)}]`, report);
    }
  } finally {
    await cache.save();
  }
  report.digest = await digestOfFiles(manifest.sha256);
  report.seconds = (performance.now() - started) / 1000;
  verifiedManifests.set(manifest, report.digest);
  return report;
}
