/**
 * Resolving `--model` values: a bundle folder, or an official `.pth` checkpoint exported on
 * first use into a cache keyed by the checkpoint's sha256 and the config (never re-exported
 * when unchanged). The demo's nano bundle is cached the same way.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import { loadBundle, type ModelBundle } from "../models/bundle.ts";
import { presetArchitecture } from "../models/glip/config.ts";
import { exportBundle } from "../models/glip/export.ts";
import { CheckpointWeights, RandomWeights, type WeightSource } from "../models/glip/weights.ts";
import { transposeMatrix } from "../models/glip/layers.ts";
import { readCheckpoint, readFloatTensors } from "../models/checkpoint/mod.ts";
import { sha256File } from "../models/checkpoint/hash.ts";
import { pathExists } from "../core/fs.ts";

/** The project's cache folder (git-ignored). */
export const CACHE_DIR: string = fileURLToPath(new URL("../.cache/", import.meta.url));

/** The nano bundle with seeded random weights, exported once into the cache. */
export async function nanoBundle(seed = 0, log?: (line: string) => void): Promise<ModelBundle> {
  const dir = join(CACHE_DIR, "bundles", `nano-seed${seed}-v2`);
  if (await pathExists(join(dir, "manifest.json"))) return await loadBundle(dir);
  log?.(`exporting the nano model (seed ${seed}) to ${dir}`);
  const temp = `${dir}.tmp-${Deno.pid}`;
  await exportBundle({
    architecture: presetArchitecture("nano"),
    configName: "nano",
    weights: new RandomWeights(seed),
    outDir: temp,
    source: { kind: "random", seed },
  });
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(temp, dir);
  return await loadBundle(dir);
}

/** The demo model's trained fusion + head (`deno task train:demo` writes it). */
export const DEMO_HEAD_WEIGHTS: string = fileURLToPath(
  new URL("../models/demo/nano-demo-head.safetensors", import.meta.url),
);

/** Random backbone weights with some tensors replaced (the trained demo head). */
class OverlaidWeights implements WeightSource {
  readonly requested = new Map<string, number[]>();
  constructor(
    readonly base: WeightSource,
    readonly overlay: Map<string, { shape: number[]; data: Float32Array }>,
  ) {}

  get(name: string, shape: number[]): Float32Array {
    this.requested.set(name, shape);
    const value = this.overlay.get(name);
    if (!value) return this.base.get(name, shape);
    if (value.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new InputError(`${name} has shape [${value.shape}], expected [${shape}]`, {
        file: DEMO_HEAD_WEIGHTS,
      });
    }
    return value.data;
  }

  getTransposed(name: string, rows: number, cols: number): Float32Array {
    const value = this.overlay.get(name);
    // trained weights are stored as the graph holds them: linear layers transposed
    if (value) {
      this.requested.set(name, [rows, cols]);
      if (value.shape.join() !== `${cols},${rows}`) {
        throw new InputError(`${name} has shape [${value.shape}], expected [${cols},${rows}]`, {
          file: DEMO_HEAD_WEIGHTS,
        });
      }
      return value.data;
    }
    return transposeMatrix(this.get(name, [rows, cols]), rows, cols);
  }
}

/**
 * The embedded demo's model: the nano architecture with seeded random backbones (seed 0) and the
 * fusion + head trained on the generated grounding corpus (models/train/demo_model.ts), exported
 * once into the cache (keyed by the trained weights' sha256).
 */
export async function demoBundle(log?: (line: string) => void): Promise<ModelBundle> {
  const sha = await sha256File(DEMO_HEAD_WEIGHTS);
  const dir = join(CACHE_DIR, "bundles", `nano-demo-${sha.slice(0, 16)}`);
  if (await pathExists(join(dir, "manifest.json"))) return await loadBundle(dir);
  log?.(`exporting the demo model to ${dir}`);
  const overlay = await readFloatTensors(DEMO_HEAD_WEIGHTS);
  const temp = `${dir}.tmp-${Deno.pid}`;
  await exportBundle({
    architecture: presetArchitecture("nano"),
    configName: "nano-demo",
    weights: new OverlaidWeights(new RandomWeights(0), overlay),
    outDir: temp,
    source: { kind: "demo", file: DEMO_HEAD_WEIGHTS, sha256: sha, seed: 0 },
  });
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(temp, dir);
  return await loadBundle(dir);
}

/**
 * A bundle for a `--model` value: a folder with manifest.json, or a `.pth` exported with the
 * preset `config` (cached by checkpoint sha256).
 */
export async function resolveModel(
  spec: string,
  config: string,
  log?: (line: string) => void,
): Promise<ModelBundle> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(spec);
  } catch {
    throw new UsageError(
      `--model ${spec}: no such file or folder (give a bundle folder or a .pth checkpoint)`,
    );
  }
  if (info.isDirectory) return await loadBundle(spec);
  if (!/\.(pth|pt|bin)$/.test(spec)) {
    throw new UsageError(`--model ${spec}: expected a bundle folder or a .pth checkpoint`);
  }
  const sha = await sha256File(spec);
  const dir = join(CACHE_DIR, "bundles", `${config}-${sha.slice(0, 16)}`);
  if (await pathExists(join(dir, "manifest.json"))) return await loadBundle(dir);
  log?.(`exporting ${spec} as ${config} to ${dir} (first use)`);
  const architecture = presetArchitecture(config);
  const checkpoint = await readCheckpoint(spec);
  let weights;
  try {
    weights = await CheckpointWeights.load(checkpoint);
  } finally {
    checkpoint.close();
  }
  const temp = `${dir}.tmp-${Deno.pid}`;
  try {
    await exportBundle({
      architecture,
      configName: config,
      weights,
      outDir: temp,
      source: { kind: "checkpoint", file: spec, sha256: sha },
    });
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    throw new InputError(`cannot export as ${config}: ${(error as Error).message}`, { file: spec });
  }
  await Deno.rename(temp, dir);
  return await loadBundle(dir);
}
