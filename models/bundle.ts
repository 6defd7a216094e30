/**
 * The model bundle: what `deno task export` writes and every engine loads.
 *
 * A bundle is a folder with `manifest.json`, three ONNX graphs (text encoder, image backbone +
 * FPN, fusion + head; the head in two forms where the deformable conv differs), their external
 * weight files and the tokenizer vocabulary. Graph inputs and outputs use fixed names
 * ({@link GRAPH_IO}) so engines never guess.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";

/** Fixed input/output names of the three graphs. */
export const GRAPH_IO = {
  text: {
    inputs: ["input_ids", "attention_mask"],
    /** `lang_hidden`: last BERT layer, unmasked; `lang_embedded`: the same times the mask. */
    outputs: ["lang_hidden", "lang_embedded"],
  },
  image: {
    inputs: ["image"],
    outputs: ["fpn_p3", "fpn_p4", "fpn_p5", "fpn_p6", "fpn_p7"],
  },
  head: {
    /** `prompt_offset` [1, L, D] is added to the text features before fusion (zeros by default). */
    inputs: [
      "fpn_p3",
      "fpn_p4",
      "fpn_p5",
      "fpn_p6",
      "fpn_p7",
      "lang_hidden",
      "attention_mask",
      "prompt_offset",
    ],
    /** Per level L in 0..4: `bbox_reg_lL` [1,4,H,W], `centerness_lL` [1,1,H,W], `dot_product_logits_lL` [1,H*W,T]. */
    outputs: [0, 1, 2, 3, 4].flatMap((l) => [
      `bbox_reg_l${l}`,
      `centerness_l${l}`,
      `dot_product_logits_l${l}`,
    ]),
  },
} as const;

/** Which graph of a bundle. */
export type GraphName = keyof typeof GRAPH_IO;

/** How the modulated deformable conv is expressed in a head graph. */
export type DeformConvForm = "native" | "decomposed";

/** One ONNX file of a bundle. */
export interface GraphFile {
  /** File name relative to the bundle folder. */
  file: string;
  /** External weight files referenced by the graph, relative to the bundle folder. */
  externalData: string[];
  /** Input names and shapes (symbolic dims as strings). */
  inputs: { name: string; dtype: string; shape: (number | string)[] }[];
  /** Output names and shapes. */
  outputs: { name: string; dtype: string; shape: (number | string)[] }[];
}

/** Test-time preprocessing settings (GLIP `INPUT.*`, `DATALOADER.SIZE_DIVISIBILITY`). */
export interface PreprocessSettings {
  minSize: number;
  maxSize: number;
  sizeDivisibility: number;
  /** B, G, R means after x255 (GLIP `INPUT.PIXEL_MEAN`). */
  pixelMean: [number, number, number];
  pixelStd: [number, number, number];
  toBgr255: boolean;
}

/** ATSS post-processing settings (GLIP `MODEL.ATSS.*`, `MODEL.DYHEAD.SCORE_AGG`). */
export interface PostprocessSettings {
  scoreThreshold: number;
  preNmsTopN: number;
  nmsThreshold: number;
  detectionsPerImage: number;
  scoreAggregation: "MEAN" | "MAX";
  anchorStrides: number[];
  anchorSizes: number[];
  boxCoderWeights: [number, number, number, number];
}

/** `manifest.json` of a bundle. */
export interface BundleManifest {
  format: "glip-bench-bundle";
  version: 1;
  /** Config preset or a description (`glip-t`, `nano`, `yaml:config.yaml`). */
  configName: string;
  /** The full architecture (see `models/glip/config.ts`). */
  architecture: Record<string, unknown>;
  /** Maximum query length (GLIP `MODEL.LANGUAGE_BACKBONE.MAX_QUERY_LEN`, 256). */
  maxQueryLength: number;
  /** Text feature width fed to the head (768 for BERT-base). */
  textWidth: number;
  graphs: {
    text: GraphFile;
    image: GraphFile;
    /** The head, per deformable-conv form. `native` uses ONNX DeformConv (opset 19). */
    head: Partial<Record<DeformConvForm, GraphFile>>;
  };
  tokenizer: { vocab: string; lowercase: boolean };
  preprocess: PreprocessSettings;
  postprocess: PostprocessSettings;
  /** sha256 of every file in the bundle, by relative path. */
  sha256: Record<string, string>;
  /** Where the weights came from. */
  source: {
    kind: "checkpoint" | "random" | "demo" | "tuned";
    file?: string;
    sha256?: string;
    seed?: number;
    /** Tuned bundles: the digest of the bundle they were tuned from. */
    base?: string;
  };
  createdBy: string;
}

/** A bundle loaded from disk: its folder and manifest. */
export interface ModelBundle {
  dir: string;
  manifest: BundleManifest;
}

/** sha256 of the whole bundle: of its manifest's per-file hashes, in name order. */
export async function bundleDigest(manifest: BundleManifest): Promise<string> {
  const text = Object.keys(manifest.sha256).sort().map((k) => `${k}:${manifest.sha256[k]}`).join(
    "\n",
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Opens a bundle folder: reads and checks `manifest.json` and that every listed file exists.
 * Errors name the folder and what is wrong.
 */
export async function loadBundle(dir: string): Promise<ModelBundle> {
  const path = `${dir}/manifest.json`;
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new InputError(
      `not a model bundle (${(error as Error).message}); export one with 'deno task export'`,
      { file: path },
    );
  }
  if (manifest.format !== "glip-bench-bundle") {
    throw new InputError("not a glip-bench bundle", {
      file: path,
      field: "format",
      value: manifest.format,
    });
  }
  if (manifest.version !== 1) {
    throw new InputError("unsupported bundle version", {
      file: path,
      field: "version",
      value: manifest.version,
    });
  }
  for (const file of Object.keys(manifest.sha256)) {
    try {
      await Deno.stat(`${dir}/${file}`);
    } catch {
      throw new InputError(`missing file ${file} listed in the manifest`, { file: path });
    }
  }
  return { dir, manifest };
}
