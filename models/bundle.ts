/**
 * The model bundle: what `deno task export` writes and every engine loads.
 *
 * A bundle is a folder with `manifest.json`, three ONNX graphs (text encoder, image backbone +
 * FPN, fusion + head; the head in two forms where the deformable conv differs), their external
 * weight files and the tokenizer vocabulary. Graph inputs and outputs use fixed names
 * ({@link GRAPH_IO}) so engines never guess.
 *
 * A bundle is used only after its files are verified ({@link loadBundle}, {@link verifyBundle};
 * see models/bundle_files.ts): each listed file's size and sha256, and every ONNX external-data
 * location kept inside the folder. Its identity ({@link bundleDigest}) comes from verified bytes.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { parseJsonText } from "../core/json.ts";
import {
  type VerificationReport,
  verifiedDigestOf,
  verifyBundleFiles,
  type VerifyOptions,
} from "./bundle_files.ts";

export type { VerificationReport, VerifyOptions };
/** Engines (plugin engines included) open a graph's files only through this check. */
export { checkedBundleFile, type CheckedGraph, checkedGraphFiles } from "./bundle_files.ts";

/** Input and output names of one graph, in the order the graph declares them. */
export interface GraphIo {
  /** Input names. */
  readonly inputs: readonly string[];
  /** Output names. */
  readonly outputs: readonly string[];
}

/** Which graph of a bundle. */
export type GraphName = "text" | "image" | "head";

/** Fixed input/output names of the three graphs. */
export const GRAPH_IO: Readonly<Record<GraphName, GraphIo>> = {
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
  /** Shorter side is resized to this (GLIP `INPUT.MIN_SIZE_TEST`). */
  minSize: number;
  /** Longer side is capped at this (GLIP `INPUT.MAX_SIZE_TEST`). */
  maxSize: number;
  /** Padded height and width are multiples of this. */
  sizeDivisibility: number;
  /** B, G, R means after x255 (GLIP `INPUT.PIXEL_MEAN`). */
  pixelMean: [number, number, number];
  /** B, G, R standard deviations after x255 (GLIP `INPUT.PIXEL_STD`). */
  pixelStd: [number, number, number];
  /** Feed BGR channels scaled to 0..255 (GLIP `INPUT.TO_BGR255`). */
  toBgr255: boolean;
}

/** ATSS post-processing settings (GLIP `MODEL.ATSS.*`, `MODEL.DYHEAD.SCORE_AGG`). */
export interface PostprocessSettings {
  /** Candidates below this score are dropped before NMS (`INFERENCE_TH`). */
  scoreThreshold: number;
  /** Candidates kept per level before NMS (`PRE_NMS_TOP_N`). */
  preNmsTopN: number;
  /** IoU threshold of the class-wise NMS (`NMS_TH`). */
  nmsThreshold: number;
  /** Detections kept per image (`DETECTIONS_PER_IMG`). */
  detectionsPerImage: number;
  /** How a label's token scores combine into one (`MODEL.DYHEAD.SCORE_AGG`). */
  scoreAggregation: "MEAN" | "MAX";
  /** Anchor stride of each FPN level, P3 to P7. */
  anchorStrides: number[];
  /** Anchor size of each FPN level, P3 to P7. */
  anchorSizes: number[];
  /** Weights of the box coder (x, y, w, h). */
  boxCoderWeights: [number, number, number, number];
}

/** `manifest.json` of a bundle. */
export interface BundleManifest {
  /** Always `glip-bench-bundle`. */
  format: "glip-bench-bundle";
  /** The manifest format's version. */
  version: 1;
  /** Config preset or a description (`glip-t`, `nano`, `yaml:config.yaml`). */
  configName: string;
  /** The full architecture (see `models/glip/config.ts`). */
  architecture: Record<string, unknown>;
  /** Maximum query length (GLIP `MODEL.LANGUAGE_BACKBONE.MAX_QUERY_LEN`, 256). */
  maxQueryLength: number;
  /** Text feature width fed to the head (768 for BERT-base). */
  textWidth: number;
  /** The three graph files. */
  graphs: {
    text: GraphFile;
    image: GraphFile;
    /** The head, per deformable-conv form. `native` uses ONNX DeformConv (opset 19). */
    head: Partial<Record<DeformConvForm, GraphFile>>;
  };
  /** The vocabulary file (relative to the bundle folder) and whether text is lower-cased. */
  tokenizer: { vocab: string; lowercase: boolean };
  /** Test-time preprocessing. */
  preprocess: PreprocessSettings;
  /** ATSS post-processing. */
  postprocess: PostprocessSettings;
  /** sha256 of every file in the bundle, by relative path. */
  sha256: Record<string, string>;
  /**
   * Size in bytes of every file, by relative path (bundles written before sizes were recorded
   * lack it; their files are still checked against `sha256`).
   */
  sizes?: Record<string, number>;
  /** Where the weights came from. */
  source: {
    kind: "checkpoint" | "random" | "demo" | "tuned";
    file?: string;
    sha256?: string;
    seed?: number;
    /** Tuned bundles: the digest of the bundle they were tuned from. */
    base?: string;
  };
  /** The program that wrote the bundle. */
  createdBy: string;
}

/** A bundle loaded from disk: its folder and manifest. */
export interface ModelBundle {
  /** The bundle folder. */
  dir: string;
  /** Its manifest (verified against the files). */
  manifest: BundleManifest;
  /** How its files were verified when it was loaded (hashed now or remembered). */
  verification?: VerificationReport;
}

/**
 * The bundle's identity: sha256 over its files' verified sha256s, in name order. Given a loaded
 * bundle it verifies the files first when they were not verified in this process (remembered
 * digests make that cheap); given a manifest it answers only for one that was verified (by
 * {@link loadBundle} or {@link verifyBundle}) and throws otherwise, so a recorded digest never
 * comes from a manifest's unchecked claims.
 */
export async function bundleDigest(
  bundle: BundleManifest | ModelBundle,
  options: VerifyOptions = {},
): Promise<string> {
  if ("manifest" in bundle && "dir" in bundle) {
    return verifiedDigestOf(bundle.manifest) ?? (await verifyBundle(bundle, options)).digest;
  }
  const digest = verifiedDigestOf(bundle);
  if (digest === undefined) {
    throw new Error(
      "bundleDigest: this manifest's files were not verified; open the bundle with loadBundle() or pass the bundle",
    );
  }
  return digest;
}

/**
 * Verifies every file of a bundle against its manifest (sizes, streamed sha256 with remembered
 * digests, external-data locations) and marks its manifest verified. Errors are InputErrors
 * naming the file, and for a mismatch both digests.
 */
export async function verifyBundle(
  bundle: ModelBundle,
  options: VerifyOptions = {},
): Promise<VerificationReport> {
  const report = await verifyBundleFiles(bundle, options);
  bundle.verification = report;
  return report;
}

/** Largest manifest.json read (16 MiB): a larger one is not a bundle manifest. */
const MAX_MANIFEST_BYTES = 16 << 20;

/**
 * Opens a bundle folder: reads and checks `manifest.json`, then verifies every listed file
 * ({@link verifyBundle}: sizes, sha256, external-data locations). Errors name the file and what
 * is wrong.
 */
export async function loadBundle(dir: string, options: VerifyOptions = {}): Promise<ModelBundle> {
  const path = `${dir}/manifest.json`;
  let manifest: BundleManifest;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_MANIFEST_BYTES) {
      throw new Error(`${info.size} bytes, more than a manifest's ${MAX_MANIFEST_BYTES}`);
    }
    manifest = parseJsonText(await Deno.readTextFile(path), path) as BundleManifest;
  } catch (error) {
    throw new InputError(
      `not a model bundle (${(error as Error).message}); export one with 'deno task export'`,
      { file: path },
    );
  }
  if (
    typeof manifest !== "object" || manifest === null || manifest.format !== "glip-bench-bundle"
  ) {
    throw new InputError("not a glip-bench bundle", {
      file: path,
      field: "format",
      value: manifest?.format,
    });
  }
  if (manifest.version !== 1) {
    throw new InputError("unsupported bundle version", {
      file: path,
      field: "version",
      value: manifest.version,
    });
  }
  const bundle: ModelBundle = { dir, manifest };
  await verifyBundle(bundle, options);
  return bundle;
}
