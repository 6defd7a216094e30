/**
 * Writes a model bundle: the three graphs (the head in both deformable-conv forms) with their
 * weights as external data, the tokenizer vocabulary, and a manifest with the architecture,
 * pre/post-processing settings and the sha256 of every file.
 *
 * @module
 */
import { basename, join } from "node:path";
import {
  type BundleManifest,
  type DeformConvForm,
  type GraphFile,
  type ModelBundle,
  verifyBundle,
} from "../bundle.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import { DigestCache } from "../../core/digest_cache.ts";
import { writeFileAtomic } from "../../core/atomic_file.ts";
import type { GlipArchitecture } from "./config.ts";
import { buildHeadGraph, buildImageGraph, buildTextGraph } from "./graphs.ts";
import type { WeightSource } from "./weights.ts";

const VOCAB = new URL("../text/bert-base-uncased-vocab.txt", import.meta.url);

/** What to export. */
export interface ExportOptions {
  /** The architecture to build. */
  architecture: GlipArchitecture;
  /** Preset name or a description of the config (`yaml:config.yaml`). */
  configName: string;
  /** Where the parameters come from (a checkpoint, or random for tests). */
  weights: WeightSource;
  /** The bundle folder to write (created if needed). */
  outDir: string;
  /** Where the weights came from, recorded in the manifest. */
  source: BundleManifest["source"];
  /** Head forms to write. @default ["native", "decomposed"] */
  forms?: DeformConvForm[];
  /** Also output every intermediate stage (for `deno task trace`). @default false */
  trace?: boolean;
  /** Vocabulary file. @default the shipped bert-base-uncased vocab */
  vocab?: string | URL;
  /** Progress messages. */
  log?: (line: string) => void;
}

async function writeGraph(
  g: GraphBuilder,
  dir: string,
  file: string,
): Promise<{ graph: GraphFile; files: string[] }> {
  const dataFile = `${file}.data`;
  const built = g.build({ externalDataFile: dataFile });
  await Deno.writeFile(join(dir, file), built.model);
  const files = [file];
  if (built.externalData) {
    await Deno.writeFile(join(dir, dataFile), built.externalData);
    files.push(dataFile);
  }
  return {
    graph: {
      file,
      externalData: built.externalData ? [dataFile] : [],
      inputs: built.inputs,
      outputs: built.outputs,
    },
    files,
  };
}

/**
 * Exports a bundle into `outDir` (created if needed) and returns it, verified. From an official
 * checkpoint, the weights are `CheckpointWeights` read from the `.pth` and the architecture is a
 * preset (`glip-t`, `glip-l`) or `architectureFromGlipYaml`.
 *
 * @example A randomly initialised nano bundle with the native head only
 * ```ts
 * import { exportBundle } from "./export.ts";
 * import { presetArchitecture } from "./config.ts";
 * import { RandomWeights } from "./weights.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   const bundle = await exportBundle({
 *     architecture: presetArchitecture("nano"), configName: "nano", weights: new RandomWeights(0),
 *     outDir: dir, source: { kind: "random", seed: 0 }, forms: ["native"],
 *   });
 *   assert.ok(bundle.manifest.graphs.head.native);
 *   assert.equal(bundle.manifest.graphs.head.decomposed, undefined);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function exportBundle(options: ExportOptions): Promise<ModelBundle> {
  const { architecture: arch, weights, outDir } = options;
  const log = options.log ?? (() => {});
  await Deno.mkdir(outDir, { recursive: true });
  const files: string[] = [];
  log("building the text encoder");
  const text = await writeGraph(buildTextGraph(arch, weights), outDir, "text_encoder.onnx");
  files.push(...text.files);
  log("building the image backbone + FPN");
  const image = await writeGraph(
    buildImageGraph(arch, weights, { trace: options.trace }),
    outDir,
    "image_backbone.onnx",
  );
  files.push(...image.files);
  const head: Partial<Record<DeformConvForm, GraphFile>> = {};
  for (const form of options.forms ?? ["native", "decomposed"]) {
    log(`building the fusion + head (${form} deformable conv)`);
    const written = await writeGraph(
      buildHeadGraph(arch, weights, form, { trace: options.trace }),
      outDir,
      `fusion_head.${form}.onnx`,
    );
    head[form] = written.graph;
    files.push(...written.files);
  }
  const vocabName = "vocab.txt";
  await Deno.copyFile(options.vocab ?? VOCAB, join(outDir, vocabName));
  files.push(vocabName);
  // streamed digests, remembered so that loading the bundle does not hash it again
  const sha256: Record<string, string> = {};
  const sizes: Record<string, number> = {};
  const cache = await DigestCache.open();
  for (const file of files) {
    ({ sha256: sha256[file], size: sizes[file] } = await cache.digest(join(outDir, file)));
  }
  await cache.save();
  const manifest: BundleManifest = {
    format: "glip-bench-bundle",
    version: 1,
    configName: options.configName,
    architecture: { ...arch, trace: Boolean(options.trace) } as unknown as Record<string, unknown>,
    maxQueryLength: arch.maxQueryLength,
    textWidth: arch.bert.hiddenSize,
    graphs: { text: text.graph, image: image.graph, head },
    tokenizer: { vocab: vocabName, lowercase: true },
    preprocess: arch.preprocess,
    postprocess: arch.postprocess,
    sha256,
    sizes,
    source: options.source.file
      ? { ...options.source, file: basename(options.source.file) }
      : options.source,
    createdBy: "glip-bench export",
  };
  await writeFileAtomic(join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  const bundle: ModelBundle = { dir: outDir, manifest };
  await verifyBundle(bundle);
  return bundle;
}
