/**
 * `deno task export`: official checkpoint (or seeded random weights) -> model bundle.
 * @module
 */
import { booleanFlag, integerFlag, parseCommandArgs, requiredFlag, stringFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { info, out, outJson } from "../output.ts";
import { UsageError } from "../../core/errors.ts";
import { architectureFromGlipYaml, presetArchitecture, PRESETS } from "../../models/glip/config.ts";
import { exportBundle } from "../../models/glip/export.ts";
import { CheckpointWeights, RandomWeights, type WeightSource } from "../../models/glip/weights.ts";
import { readCheckpoint } from "../../models/checkpoint/mod.ts";
import { sha256File } from "../../models/checkpoint/hash.ts";
import { peakRssBytes } from "../../benchmarks/stage_timer.ts";

const HELP = `deno task export --config NAME (--checkpoint FILE.pth | --seed N) --out DIR
deno task export --glip-config config.yaml [--bert-config bert_config.json] --checkpoint FILE.pth --out DIR

Examples:
  deno task export --config nano --seed 0 --out bundles/nano
  deno task export --checkpoint glip_tiny_model_o365_goldg_cc_sbu.pth --config glip-t --out bundles/glip-t
  deno task export --checkpoint model.pth --glip-config config.yaml --bert-config bert_config.json --out bundles/m

Writes a model bundle: manifest.json, text_encoder.onnx, image_backbone.onnx,
fusion_head.native.onnx (ONNX DeformConv) and fusion_head.decomposed.onnx (GridSample form, for
WebGPU), their weights as external data, and the vocabulary. A checkpoint with a missing or
misshapen tensor fails naming the tensor.

Options:
  --config NAME         preset: ${Object.keys(PRESETS).join(", ")}
  --glip-config FILE    an official GLIP YAML config instead of a preset
  --bert-config FILE    the language model's config.json (default: bert-base-uncased)
  --checkpoint FILE     official .pth checkpoint ({"model": state_dict}, keys with "module.")
  --seed N              deterministic random weights instead of a checkpoint
  --out DIR             output folder
  --forms LIST          head forms: native,decomposed (default both)
  --trace-outputs       also output every intermediate stage (for deno task trace)
  --json                print the manifest as JSON
  --config-file FILE    JSON file with defaults for these options`;

/** The `export` subcommand. */
export const command: Command = {
  name: "export",
  summary: "turn an official GLIP checkpoint (or a seed) into a model bundle",
  async run(args) {
    const parsed = await parseCommandArgs("export", args, {
      config: { type: "string" },
      "glip-config": { type: "string" },
      "bert-config": { type: "string" },
      checkpoint: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      forms: { type: "string" },
      "trace-outputs": { type: "boolean" },
    }, { configFlag: "config-file" });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const outDir = requiredFlag("export", parsed, "out");
    const preset = stringFlag(parsed, "config");
    const yamlPath = stringFlag(parsed, "glip-config");
    if (!preset && !yamlPath) {
      throw new UsageError("export: give --config NAME or --glip-config FILE");
    }
    if (preset && yamlPath) {
      throw new UsageError("export: give --config or --glip-config, not both");
    }
    const checkpointPath = stringFlag(parsed, "checkpoint");
    const seed = integerFlag("export", parsed, "seed", { min: 0 });
    if ((checkpointPath === undefined) === (seed === undefined)) {
      throw new UsageError("export: give exactly one of --checkpoint FILE and --seed N");
    }
    let architecture;
    let configName: string;
    if (yamlPath) {
      const bertPath = stringFlag(parsed, "bert-config");
      const bert = bertPath ? JSON.parse(await Deno.readTextFile(bertPath)) : undefined;
      architecture = architectureFromGlipYaml(await Deno.readTextFile(yamlPath), yamlPath, bert);
      configName = `yaml:${yamlPath.split("/").at(-1)}`;
    } else {
      architecture = presetArchitecture(preset!);
      configName = preset!;
    }
    const forms = (stringFlag(parsed, "forms") ?? "native,decomposed").split(",").map((f) =>
      f.trim()
    );
    for (const form of forms) {
      if (form !== "native" && form !== "decomposed") {
        throw new UsageError(`export: --forms takes native and/or decomposed (got '${form}')`);
      }
    }
    const started = performance.now();
    let weights: WeightSource;
    let source;
    let checkpointWeights: CheckpointWeights | undefined;
    if (checkpointPath) {
      info(`reading ${checkpointPath}`);
      const checkpoint = await readCheckpoint(checkpointPath);
      try {
        checkpointWeights = await CheckpointWeights.load(checkpoint);
      } finally {
        checkpoint.close();
      }
      weights = checkpointWeights;
      source = {
        kind: "checkpoint" as const,
        file: checkpointPath,
        sha256: await sha256File(checkpointPath),
      };
    } else {
      weights = new RandomWeights(seed!);
      source = { kind: "random" as const, seed };
    }
    const bundle = await exportBundle({
      architecture,
      configName,
      weights,
      outDir,
      source,
      forms: forms as ("native" | "decomposed")[],
      trace: booleanFlag(parsed, "trace-outputs"),
      log: info,
    });
    const unused = checkpointWeights?.unused() ?? [];
    if (unused.length > 0) {
      info(
        `checkpoint tensors not used by inference (${unused.length}): ${
          unused.slice(0, 8).join(", ")
        }${unused.length > 8 ? ", ..." : ""}`,
      );
    }
    const seconds = (performance.now() - started) / 1000;
    info(
      `exported ${configName} to ${outDir} in ${seconds.toFixed(1)} s (peak memory ${
        (peakRssBytes() / 2 ** 30).toFixed(2)
      } GiB)`,
    );
    if (booleanFlag(parsed, "json")) outJson(bundle.manifest);
    else out(outDir);
    return 0;
  },
};
