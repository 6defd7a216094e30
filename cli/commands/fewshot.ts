/**
 * `deno task fewshot`: GLIP's k-shot splits (both samplers), as GLIP-compatible COCO files.
 * @module
 */
import { join } from "node:path";
import {
  booleanFlag,
  integerListFlag,
  parseCommandArgs,
  requiredFlag,
  stringFlag,
} from "../args.ts";
import type { Command } from "../command.ts";
import { info, out, outJson } from "../output.ts";
import { UsageError } from "../../core/errors.ts";
import { loadCocoJson } from "../../datasets/coco_json.ts";
import { type FewShotSampler, sampleFewShot, subsetCoco } from "../../datasets/fewshot.ts";

const HELP =
  `deno task fewshot --ann train.json --shots 1,3,5,10 --seeds 3,30,300 [--sampler seeded|sorted] [--out DIR] [--json]

Examples:
  deno task fewshot --ann DATASET/odinw/Aquarium/.../train/annotations_without_background.json --out splits
  deno task fewshot --ann train.json --shots 3 --seeds 3,30,300 --json
  deno task fewshot --ann train.json --shots 1,3 --sampler sorted --json

Samplers (GLIP-FACTS §5.2):
  seeded  COCODataset: random.Random(seed).shuffle of the sorted ids, then "at least k images per
          category" (the default; its files are named fewshot_train_shot{k}_seed{s}.json)
  sorted  CocoGrounding, which GLIP's README training path uses: no shuffle, the seed is ignored
          (files fewshot_train_shot{k}.json)

--json prints {"<k>_<seed>": [image ids in selection order]} (for sorted: {"<k>": [...]}).`;

/** The `fewshot` subcommand. */
export const command: Command = {
  name: "fewshot",
  summary: "write GLIP's k-shot training splits (seeded or sorted sampler)",
  async run(args) {
    const parsed = await parseCommandArgs("fewshot", args, {
      ann: { type: "string" },
      shots: { type: "string" },
      seeds: { type: "string" },
      sampler: { type: "string" },
      out: { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const annPath = requiredFlag("fewshot", parsed, "ann");
    const shots = integerListFlag("fewshot", parsed, "shots") ?? [1, 3, 5, 10];
    const seeds = integerListFlag("fewshot", parsed, "seeds") ?? [3, 30, 300];
    const sampler = (stringFlag(parsed, "sampler") ?? "seeded") as FewShotSampler;
    if (sampler !== "seeded" && sampler !== "sorted") {
      throw new UsageError(`fewshot: --sampler is seeded or sorted (got '${sampler}')`);
    }
    for (const k of shots) {
      if (k < 1) throw new UsageError(`fewshot: --shots takes positive integers (got ${k})`);
    }
    const dataset = await loadCocoJson(annPath);
    const selections: Record<string, number[]> = {};
    for (const k of shots) {
      if (sampler === "sorted") selections[String(k)] = sampleFewShot(dataset, k, { sampler });
      else {for (const seed of seeds) {
          selections[`${k}_${seed}`] = sampleFewShot(dataset, k, { sampler, seed });
        }}
    }
    const outDir = stringFlag(parsed, "out");
    if (outDir) {
      await Deno.mkdir(outDir, { recursive: true });
      for (const [key, ids] of Object.entries(selections)) {
        const [k, seed] = key.split("_");
        const file = join(
          outDir,
          seed ? `fewshot_train_shot${k}_seed${seed}.json` : `fewshot_train_shot${k}.json`,
        );
        await Deno.writeTextFile(file, JSON.stringify(subsetCoco(dataset, ids)));
        info(`${file}: ${ids.length} images`);
      }
    }
    if (booleanFlag(parsed, "json")) outJson(selections);
    else if (!outDir) {
      for (const [key, ids] of Object.entries(selections)) {
        out(`${key}: ${ids.length} images: ${ids.join(" ")}`);
      }
    }
    return 0;
  },
};
