/**
 * Parameters read back from an exported bundle: the float initializers of one of its ONNX graphs
 * (inline or external data), by their parameter names, which the exporter keeps one-to-one with
 * GLIP's state dict. The trainer rebuilds the head from them, so a bundle is all it needs.
 *
 * @module
 */
import { dirname, join } from "node:path";
import onnxProto from "onnx-proto";
import { externalLocation, floatTensorValues } from "../graph/onnx_tensor.ts";
import { InputError } from "../../core/errors.ts";
import { DigestCache } from "../../core/digest_cache.ts";
import { writeFileAtomic } from "../../core/atomic_file.ts";
import { pathExists } from "../../core/fs.ts";
import {
  type BundleManifest,
  type GraphName,
  type ModelBundle,
  verifyBundle,
  type VerifyOptions,
} from "../bundle.ts";
import {
  checkedBundlePath,
  checkedGraphFiles,
  decodeModel,
  externalDataPaths,
  manifestGraphs,
  readGraphBytes,
} from "../bundle_files.ts";
import { WeightError, type WeightSource } from "./weights.ts";

const FLOAT = 1;

/**
 * The float initializers of an ONNX model, with its external data files read from the model's
 * folder; every external-data location is checked to stay inside that folder first.
 */
export async function readFloatInitializers(
  modelPath: string,
): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const model = decodeModel(modelPath, await readGraphBytes(modelPath));
  const paths = await externalDataPaths(dirname(modelPath), modelPath, model);
  const floats = (model.graph?.initializer ?? []).filter((t) => t.dataType === FLOAT && t.name);
  const external = new Map<string, Uint8Array>();
  for (const location of new Set(floats.map(externalLocation).filter((l) => l !== undefined))) {
    external.set(location, await Deno.readFile(paths.get(location)!));
  }
  return new Map(floats.map((tensor) => [tensor.name!, {
    shape: (tensor.dims ?? []).map(Number),
    data: floatTensorValues(tensor, external),
  }]));
}

/**
 * Parameters as a graph stores them: linear weights transposed ([in, out]), a few others
 * reshaped (same values in the same order), under their parameter names.
 */
export class BundleWeights implements WeightSource {
  readonly requested = new Map<string, number[]>();
  constructor(
    readonly source: string,
    readonly values: Map<string, { shape: number[]; data: Float32Array }>,
  ) {}

  #lookup(name: string, shape: number[]): { shape: number[]; data: Float32Array } {
    this.requested.set(name, shape);
    const value = this.values.get(name);
    if (!value) {
      throw new WeightError(`${this.source}: initializer ${name} is missing (expected [${shape}])`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (value.data.length !== count) {
      throw new WeightError(
        `${this.source}: initializer ${name} has shape [${value.shape}], expected ${count} values ([${shape}])`,
      );
    }
    return value;
  }

  get(name: string, shape: number[]): Float32Array {
    return this.#lookup(name, shape).data;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  getTransposed(name: string, rows: number, cols: number): Float32Array {
    const value = this.#lookup(name, [rows, cols]);
    if (value.shape.length !== 2 || value.shape[0] !== cols || value.shape[1] !== rows) {
      throw new WeightError(
        `${this.source}: initializer ${name} has shape [${value.shape}], expected the transposed [${cols},${rows}]`,
      );
    }
    return value.data;
  }
}

/** The weights of one graph of a bundle (the head: its decomposed form). */
export async function bundleWeights(
  bundle: ModelBundle,
  graph: GraphName = "head",
): Promise<BundleWeights> {
  const graphs = bundle.manifest.graphs;
  const graphFile = graph === "head" ? graphs.head.decomposed ?? graphs.head.native : graphs[graph];
  if (!graphFile) {
    throw new InputError("the bundle has no head graph", {
      file: join(bundle.dir, "manifest.json"),
    });
  }
  const { model } = await checkedGraphFiles(bundle, graphFile);
  return new BundleWeights(model, await readFloatInitializers(model));
}

/**
 * Writes a copy of `base` into `outDir` with some initializers replaced (by graph name; every
 * graph file holding one is patched, both head forms included), updating the manifest's hashes,
 * sizes and source. Writing into the same `outDir` again patches it in place (the folder must
 * hold a copy of the same bundle). `base` is verified first, every path is checked to stay
 * inside its folder, the graph files and the manifest are replaced through temp + rename, and
 * the returned bundle is verified.
 */
export async function writeTunedBundle(
  base: ModelBundle,
  outDir: string,
  values: Map<string, Float32Array>,
  source: BundleManifest["source"],
  options: VerifyOptions = {},
): Promise<ModelBundle> {
  await verifyBundle(base, options);
  const manifestPath = join(outDir, "manifest.json");
  const baseManifest = join(base.dir, "manifest.json");
  let manifest: BundleManifest;
  const changed = new Set<string>();
  if (await pathExists(manifestPath)) {
    manifest = await readCopiedManifest(manifestPath, base.manifest);
  } else {
    await Deno.mkdir(outDir, { recursive: true });
    for (const file of Object.keys(base.manifest.sha256)) {
      const field = `sha256[${JSON.stringify(file)}]`;
      await Deno.copyFile(
        await checkedBundlePath(base.dir, file, { file: baseManifest, field }),
        await checkedBundlePath(outDir, file, { file: manifestPath, field }),
      );
      changed.add(file);
    }
    manifest = structuredClone(base.manifest);
  }
  const found = new Set<string>();
  for (const graph of manifestGraphs(manifest)) {
    const modelPath = await checkedBundlePath(outDir, graph.file, {
      file: manifestPath,
      field: "graphs.*.file",
    });
    const model = decodeModel(modelPath, await readGraphBytes(modelPath));
    const paths = await externalDataPaths(outDir, modelPath, model);
    let inline = false;
    for (const tensor of model.graph?.initializer ?? []) {
      const value = tensor.name ? values.get(tensor.name) : undefined;
      if (!value) continue;
      found.add(tensor.name!);
      const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      const location = externalLocation(tensor);
      if (location === undefined) {
        if ((tensor.rawData?.length ?? 0) !== bytes.length) {
          throw new InputError(`initializer ${tensor.name} has another size`, { file: modelPath });
        }
        tensor.rawData = bytes.slice();
        inline = true;
        continue;
      }
      const path = paths.get(location)!;
      await patchExternalData(path, modelPath, tensor, bytes);
      changed.add(location);
    }
    if (inline) {
      await writeFileAtomic(modelPath, onnxProto.onnx.ModelProto.encode(model).finish());
      changed.add(graph.file);
    }
  }
  const missing = [...values.keys()].filter((name) => !found.has(name));
  if (missing.length > 0) {
    throw new InputError(`no graph holds ${missing.slice(0, 3).join(", ")}`, {
      file: baseManifest,
    });
  }
  // digests of what was written, remembered so that verifying the copy does not hash it again
  const cache = await DigestCache.open(options.cacheDir);
  manifest.sizes ??= {};
  for (const file of changed) {
    const digest = await cache.digest(join(outDir, file));
    manifest.sha256[file] = digest.sha256;
    manifest.sizes[file] = digest.size;
  }
  await cache.save();
  manifest.source = source;
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  const tuned: ModelBundle = { dir: outDir, manifest };
  await verifyBundle(tuned, options);
  return tuned;
}

/** The manifest of an earlier tuned copy, refused unless it lists the same files and graphs. */
async function readCopiedManifest(
  path: string,
  base: BundleManifest,
): Promise<BundleManifest> {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(path)) as BundleManifest;
  } catch (error) {
    throw new InputError(`cannot read the tuned copy's manifest (${(error as Error).message})`, {
      file: path,
    });
  }
  const files = (m: BundleManifest) => JSON.stringify(Object.keys(m.sha256 ?? {}).sort());
  if (
    files(manifest) !== files(base) ||
    JSON.stringify(manifest.graphs) !== JSON.stringify(base.graphs)
  ) {
    throw new InputError(
      "the folder holds another bundle, not a tuned copy of this one; remove it or choose another folder",
      { file: path },
    );
  }
  return manifest;
}

/** Overwrites one tensor's bytes in an external data file, after checking its range. */
async function patchExternalData(
  path: string,
  modelPath: string,
  tensor: onnxProto.onnx.ITensorProto,
  bytes: Uint8Array,
): Promise<void> {
  const field = (key: string) => tensor.externalData?.find((e) => e.key === key)?.value;
  const offset = Number(field("offset") ?? 0);
  const length = Number(field("length") ?? bytes.length);
  const where = { file: modelPath, field: `tensor ${tensor.name}: external_data` };
  if (length !== bytes.length) {
    throw new InputError(`initializer ${tensor.name} holds ${length} bytes, not ${bytes.length}`, {
      ...where,
      value: { offset, length },
    });
  }
  const { size, nlink } = await Deno.stat(path);
  if (nlink !== null && nlink > 1) {
    throw new InputError(
      `${path} has ${nlink} hard links: patching it in place would change another file too`,
      where,
    );
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > size) {
    throw new InputError(`the range lies outside ${path} (${size} bytes)`, {
      ...where,
      value: { offset, length },
    });
  }
  using file = await Deno.open(path, { read: true, write: true });
  await file.seek(offset, Deno.SeekMode.Start);
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
