/**
 * Parameters read back from an exported bundle: the float initializers of one of its ONNX graphs
 * (inline or external data), by their parameter names, which the exporter keeps one-to-one with
 * GLIP's state dict. The trainer rebuilds the head from them, so a bundle is all it needs.
 *
 * @module
 */
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { externalLocation, floatTensorValues } from "../graph/onnx_tensor.ts";
import { InputError } from "../../core/errors.ts";
import type { BundleManifest, GraphName, ModelBundle } from "../bundle.ts";
import { sha256Hex } from "../../benchmarks/provenance.ts";
import { WeightError, type WeightSource } from "./weights.ts";

const FLOAT = 1;

/** The float initializers of an ONNX model, with its external data files read from `dir`. */
export async function readFloatInitializers(
  modelPath: string,
): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const model = onnxProto.onnx.ModelProto.decode(await Deno.readFile(modelPath));
  const dir = modelPath.slice(0, modelPath.lastIndexOf("/") + 1) || ".";
  const floats = (model.graph?.initializer ?? []).filter((t) => t.dataType === FLOAT && t.name);
  const external = new Map<string, Uint8Array>();
  for (const location of new Set(floats.map(externalLocation).filter((l) => l !== undefined))) {
    external.set(location, await Deno.readFile(join(dir, location)));
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
  const file = graph === "head"
    ? (graphs.head.decomposed ?? graphs.head.native)?.file
    : graphs[graph].file;
  if (!file) {
    throw new InputError("the bundle has no head graph", {
      file: join(bundle.dir, "manifest.json"),
    });
  }
  const path = join(bundle.dir, file);
  return new BundleWeights(path, await readFloatInitializers(path));
}

/**
 * Writes a copy of `base` into `outDir` with some initializers replaced (by graph name; every
 * graph file holding one is patched, both head forms included), updating the manifest's hashes
 * and source. Writing into the same `outDir` again patches it in place.
 */
export async function writeTunedBundle(
  base: ModelBundle,
  outDir: string,
  values: Map<string, Float32Array>,
  source: BundleManifest["source"],
): Promise<ModelBundle> {
  const manifestPath = join(outDir, "manifest.json");
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(manifestPath)) as BundleManifest;
  } catch {
    await Deno.mkdir(outDir, { recursive: true });
    for (const file of Object.keys(base.manifest.sha256)) {
      await Deno.copyFile(join(base.dir, file), join(outDir, file));
    }
    manifest = structuredClone(base.manifest);
  }
  const graphs = [
    manifest.graphs.text,
    manifest.graphs.image,
    ...Object.values(manifest.graphs.head),
  ].filter((g): g is NonNullable<typeof g> => Boolean(g));
  const changed = new Set<string>();
  const found = new Set<string>();
  for (const graph of graphs) {
    const modelPath = join(outDir, graph.file);
    const model = onnxProto.onnx.ModelProto.decode(await Deno.readFile(modelPath));
    let inline = false;
    for (const tensor of model.graph?.initializer ?? []) {
      const value = tensor.name ? values.get(tensor.name) : undefined;
      if (!value) continue;
      found.add(tensor.name!);
      const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      const field = (key: string) => tensor.externalData?.find((e) => e.key === key)?.value;
      const location = field("location");
      if (!location) {
        if ((tensor.rawData?.length ?? 0) !== bytes.length) {
          throw new InputError(`initializer ${tensor.name} has another size`, { file: modelPath });
        }
        tensor.rawData = bytes.slice();
        inline = true;
        continue;
      }
      const offset = Number(field("offset") ?? 0);
      const length = Number(field("length") ?? bytes.length);
      if (length !== bytes.length) {
        throw new InputError(
          `initializer ${tensor.name} holds ${length} bytes, not ${bytes.length}`,
          {
            file: join(outDir, location),
          },
        );
      }
      const file = await Deno.open(join(outDir, location), { read: true, write: true });
      try {
        await file.seek(offset, Deno.SeekMode.Start);
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
      } finally {
        file.close();
      }
      changed.add(location);
    }
    if (inline) {
      await Deno.writeFile(modelPath, onnxProto.onnx.ModelProto.encode(model).finish());
      changed.add(graph.file);
    }
  }
  const missing = [...values.keys()].filter((name) => !found.has(name));
  if (missing.length > 0) {
    throw new InputError(`no graph holds ${missing.slice(0, 3).join(", ")}`, {
      file: join(base.dir, "manifest.json"),
    });
  }
  for (const file of changed) {
    manifest.sha256[file] = await sha256Hex(await Deno.readFile(join(outDir, file)));
  }
  manifest.source = source;
  await Deno.writeTextFile(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  return { dir: outDir, manifest };
}
