/**
 * GLIP architectures: one typed description per model, the named presets (`glip-t`, `glip-l`,
 * `nano`, ...) and the reader of official GLIP YAML configs that produces the same description.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { InputError, UsageError } from "../../core/errors.ts";
import { unknownNameMessage } from "../../core/did_you_mean.ts";
import type { PostprocessSettings, PreprocessSettings } from "../bundle.ts";

/** Every dimension and switch the graphs need. */
export interface GlipArchitecture {
  /** The Swin Transformer backbone. */
  swin: {
    patchSize: number;
    embedDim: number;
    depths: number[];
    numHeads: number[];
    windowSize: number;
    mlpRatio: number;
  };
  /** Channels of every FPN level. */
  fpnChannels: number;
  /** The BERT text encoder. */
  bert: {
    vocabSize: number;
    hiddenSize: number;
    numLayers: number;
    numHeads: number;
    intermediateSize: number;
    maxPositions: number;
    typeVocabSize: number;
    layerNormEps: number;
  };
  /** The dynamic head with deep fusion. */
  dyhead: {
    channels: number;
    /** Tower blocks (GLIP `MODEL.DYHEAD.NUM_CONVS`). */
    numConvs: number;
    /** Deep fusion in every block (`FUSE_CONFIG.EARLY_FUSE_ON`). */
    fusion: boolean;
    /** Dot product on the fused text features (else on the BERT output). */
    fusedFeaturesDotProduct: boolean;
    /** Fusion width and heads: hard-wired to 2048 / 8 in GLIP. */
    fusionEmbedDim: number;
    fusionHeads: number;
    groupNormGroups: number;
    /** Dimension of the dot-product projection (`JOINT_EMB_SIZE`). */
    jointEmbedding: number;
  };
  /** Maximum prompt length in tokens (GLIP `MAX_QUERY_LEN`). */
  maxQueryLength: number;
  /** Test-time preprocessing. */
  preprocess: PreprocessSettings;
  /** ATSS post-processing. */
  postprocess: PostprocessSettings;
}

const BERT_BASE = {
  vocabSize: 30522,
  hiddenSize: 768,
  numLayers: 12,
  numHeads: 12,
  intermediateSize: 3072,
  maxPositions: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
};

/** GLIP's test-time preprocessing (pretrain configs). */
export const GLIP_PREPROCESS: PreprocessSettings = {
  minSize: 800,
  maxSize: 1333,
  sizeDivisibility: 32,
  pixelMean: [103.53, 116.28, 123.675],
  pixelStd: [57.375, 57.12, 58.395],
  toBgr255: true,
};

/** GLIP's ATSS post-processing defaults (config/defaults.py; no GLIP config overrides them). */
export const GLIP_POSTPROCESS: PostprocessSettings = {
  scoreThreshold: 0.05,
  preNmsTopN: 1000,
  nmsThreshold: 0.6,
  detectionsPerImage: 100,
  scoreAggregation: "MEAN",
  anchorStrides: [8, 16, 32, 64, 128],
  anchorSizes: [64, 128, 256, 512, 1024],
  boxCoderWeights: [10, 10, 5, 5],
};

function swinT() {
  return {
    patchSize: 4,
    embedDim: 96,
    depths: [2, 2, 6, 2],
    numHeads: [3, 6, 12, 24],
    windowSize: 7,
    mlpRatio: 4,
  };
}

function glipT(fusion: boolean): GlipArchitecture {
  return {
    swin: swinT(),
    fpnChannels: 256,
    bert: { ...BERT_BASE },
    dyhead: {
      channels: 256,
      numConvs: 6,
      fusion,
      fusedFeaturesDotProduct: fusion,
      fusionEmbedDim: 2048,
      fusionHeads: 8,
      groupNormGroups: 16,
      jointEmbedding: 256,
    },
    maxQueryLength: 256,
    preprocess: { ...GLIP_PREPROCESS },
    postprocess: { ...GLIP_POSTPROCESS },
  };
}

/** The named configurations. */
export const PRESETS: Record<string, { summary: string; make: () => GlipArchitecture }> = {
  "glip-t": {
    summary: "GLIP-T: Swin-T, BERT-base, 6 fusion blocks (glip_Swin_T_O365_GoldG.yaml)",
    make: () => glipT(true),
  },
  "glip-t-a": {
    summary: "GLIP-T (A): no deep fusion, dot product on BERT output (glip_A_Swin_T_O365.yaml)",
    make: () => glipT(false),
  },
  "glip-t-b": {
    summary: "GLIP-T (B): deep fusion, O365 (glip_Swin_T_O365.yaml)",
    make: () => glipT(true),
  },
  "glip-t-c": {
    summary: "GLIP-T (C): deep fusion, O365 + GoldG (glip_Swin_T_O365_GoldG.yaml)",
    make: () => glipT(true),
  },
  "glip-l": {
    summary: "GLIP-L: Swin-L, BERT-base, 8 fusion blocks (glip_Swin_L.yaml)",
    make: () => {
      const arch = glipT(true);
      arch.swin = {
        patchSize: 4,
        embedDim: 192,
        depths: [2, 2, 18, 2],
        numHeads: [6, 12, 24, 48],
        windowSize: 12,
        mlpRatio: 4,
      };
      arch.dyhead.numConvs = 8;
      return arch;
    },
  },
  nano: {
    summary:
      "nano: GLIP-T's architecture shrunk (Swin 16-d, 2-layer 64-d BERT, one fusion block) for tests and the demo",
    make: () => ({
      swin: {
        patchSize: 4,
        embedDim: 16,
        depths: [2, 2, 2, 2],
        numHeads: [1, 2, 4, 8],
        windowSize: 7,
        mlpRatio: 4,
      },
      fpnChannels: 64,
      bert: { ...BERT_BASE, hiddenSize: 64, numLayers: 2, numHeads: 4, intermediateSize: 128 },
      dyhead: {
        channels: 64,
        numConvs: 1,
        fusion: true,
        fusedFeaturesDotProduct: true,
        fusionEmbedDim: 2048,
        fusionHeads: 8,
        groupNormGroups: 16,
        jointEmbedding: 64,
      },
      maxQueryLength: 256,
      preprocess: { ...GLIP_PREPROCESS, minSize: 160, maxSize: 256 },
      postprocess: { ...GLIP_POSTPROCESS },
    }),
  },
};

/** The architecture of a named preset; unknown names are usage errors with a suggestion. */
export function presetArchitecture(name: string): GlipArchitecture {
  const preset = PRESETS[name];
  if (!preset) {
    throw new UsageError(`--config: ${unknownNameMessage("config", name, Object.keys(PRESETS))}`);
  }
  return preset.make();
}

/** Reads a nested YAML key like `MODEL.SWINT.DEPTHS`. */
function yamlGet(root: Record<string, unknown>, path: string): unknown {
  let node: unknown = root;
  for (const part of path.split(".")) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * Builds the architecture an official GLIP YAML config describes (the merged config, as GLIP
 * writes it, or a pretrain config: missing keys take GLIP's defaults). `bertConfig` is the
 * language model's `config.json`; bert-base-uncased when absent.
 */
export function architectureFromGlipYaml(
  yamlText: string,
  file: string,
  bertConfig?: Record<string, unknown>,
): GlipArchitecture {
  let root: Record<string, unknown>;
  try {
    root = parseYaml(yamlText) as Record<string, unknown>;
  } catch (error) {
    throw new InputError(`not valid YAML: ${(error as Error).message}`, { file });
  }
  if (!root || typeof root !== "object") throw new InputError("expected a YAML mapping", { file });
  const get = <T>(path: string, fallback: T): T => {
    const value = yamlGet(root, path);
    return (value === undefined || value === null ? fallback : value) as T;
  };
  const body = String(get("MODEL.BACKBONE.CONV_BODY", "SWINT-FPN-RETINANET"));
  if (!body.startsWith("SWINT")) {
    throw new InputError("only Swin backbones (SWINT-*) are supported", {
      file,
      field: "MODEL.BACKBONE.CONV_BODY",
      value: body,
    });
  }
  const arch = glipT(true);
  arch.swin = {
    patchSize: 4,
    embedDim: get("MODEL.SWINT.EMBED_DIM", 96),
    depths: get("MODEL.SWINT.DEPTHS", [2, 2, 6, 2]),
    numHeads: get("MODEL.SWINT.NUM_HEADS", [3, 6, 12, 24]),
    windowSize: get("MODEL.SWINT.WINDOW_SIZE", 7),
    mlpRatio: get("MODEL.SWINT.MLP_RATIO", 4),
  };
  arch.fpnChannels = get("MODEL.BACKBONE.OUT_CHANNELS", 256);
  const fusion = Boolean(get("MODEL.DYHEAD.FUSE_CONFIG.EARLY_FUSE_ON", false));
  arch.dyhead = {
    ...arch.dyhead,
    channels: get("MODEL.DYHEAD.CHANNELS", 256),
    numConvs: get("MODEL.DYHEAD.NUM_CONVS", 6),
    fusion,
    fusedFeaturesDotProduct: Boolean(
      get("MODEL.DYHEAD.FUSE_CONFIG.USE_FUSED_FEATURES_DOT_PRODUCT", false),
    ),
    jointEmbedding: get("MODEL.DYHEAD.FUSE_CONFIG.JOINT_EMB_SIZE", 256),
  };
  const type = get("MODEL.DYHEAD.FUSE_CONFIG.TYPE", "MHA-B");
  if (fusion && type !== "MHA-B") {
    throw new InputError("only the MHA-B fusion (GLIP's) is supported", {
      file,
      field: "MODEL.DYHEAD.FUSE_CONFIG.TYPE",
      value: type,
    });
  }
  if (bertConfig) {
    arch.bert = {
      vocabSize: Number(bertConfig.vocab_size ?? 30522),
      hiddenSize: Number(bertConfig.hidden_size ?? 768),
      numLayers: Number(bertConfig.num_hidden_layers ?? 12),
      numHeads: Number(bertConfig.num_attention_heads ?? 12),
      intermediateSize: Number(bertConfig.intermediate_size ?? 3072),
      maxPositions: Number(bertConfig.max_position_embeddings ?? 512),
      typeVocabSize: Number(bertConfig.type_vocab_size ?? 2),
      layerNormEps: Number(bertConfig.layer_norm_eps ?? 1e-12),
    };
  }
  const langDim = get("MODEL.LANGUAGE_BACKBONE.LANG_DIM", arch.bert.hiddenSize);
  if (langDim !== arch.bert.hiddenSize) {
    throw new InputError(`LANG_DIM must equal the BERT hidden size ${arch.bert.hiddenSize}`, {
      file,
      field: "MODEL.LANGUAGE_BACKBONE.LANG_DIM",
      value: langDim,
    });
  }
  arch.maxQueryLength = get("MODEL.LANGUAGE_BACKBONE.MAX_QUERY_LEN", 256);
  arch.preprocess = {
    minSize: Number([get("INPUT.MIN_SIZE_TEST", 800)].flat()[0]),
    maxSize: get("INPUT.MAX_SIZE_TEST", 1333),
    sizeDivisibility: get("DATALOADER.SIZE_DIVISIBILITY", 32),
    pixelMean: get("INPUT.PIXEL_MEAN", GLIP_PREPROCESS.pixelMean),
    pixelStd: get("INPUT.PIXEL_STD", GLIP_PREPROCESS.pixelStd),
    toBgr255: get("INPUT.TO_BGR255", true),
  };
  arch.postprocess = {
    scoreThreshold: get("MODEL.ATSS.INFERENCE_TH", 0.05),
    preNmsTopN: get("MODEL.ATSS.PRE_NMS_TOP_N", 1000),
    nmsThreshold: get("MODEL.ATSS.NMS_TH", 0.6),
    detectionsPerImage: get("MODEL.ATSS.DETECTIONS_PER_IMG", 100),
    scoreAggregation: get("MODEL.DYHEAD.SCORE_AGG", "MEAN"),
    anchorStrides: get("MODEL.RPN.ANCHOR_STRIDE", [8, 16, 32, 64, 128]),
    anchorSizes: get("MODEL.RPN.ANCHOR_SIZES", [64, 128, 256, 512, 1024]),
    boxCoderWeights: [10, 10, 5, 5],
  };
  return arch;
}
