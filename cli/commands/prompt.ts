/**
 * `deno task prompt`: the exact queries, tokens and label-to-token maps GLIP would use.
 * @module
 */
import { booleanFlag, integerFlag, parseCommandArgs, stringFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { out, outJson, warn } from "../output.ts";
import { InputError, UsageError } from "../../core/errors.ts";
import { loadBertTokenizer } from "../../models/text/tokenizer.ts";
import {
  buildCaptionPrompt,
  buildChunkedPrompts,
  type CaptionPrompt,
  type PromptChunk,
} from "../../models/text/prompt.ts";
import { odinwTask, type PromptVariant, taskPrompt } from "../../datasets/odinw.ts";
import { parseJsonFile } from "../../datasets/coco_json.ts";

const HELP = `deno task prompt odinw --task NAME [--prompt raw|engineered]
deno task prompt --names-file names.json [--chunk N] [--separator S] [--caption-prompt FILE]
deno task prompt --captions-file texts.json

Examples:
  deno task prompt odinw --task Aquarium --prompt engineered
  deno task prompt --names-file lvis_names.json --chunk 40 --json
  deno task prompt --captions-file sentences.json

Prints, for each prompt chunk, the query, tokens, input ids, character spans and the label ->
token map, exactly as GLIP's create_queries_and_maps builds them (names cleaned, joined by ". ").
Raw captions (--captions-file, as Flickr30K uses whole sentences) are not cleaned.
A label whose name maps to no token (e.g. a name of only spaces) is left out of the label -> token
map, as GLIP's create_positive_dict leaves it out, and is never detected; a warning names it.
With --json: an array of {query, tokensPositive, tokens, inputIds, charToToken,
positiveMapLabelToToken, droppedLabels}.

Options:
  --task NAME            an ODinW task (with the odinw suite)
  --prompt VARIANT       raw (odinw_13 names, default) or engineered (odinw_35 prompts)
  --names-file FILE      JSON array of category names
  --chunk N              names per prompt (LVIS: 40); all in one prompt by default
  --separator S          between names (default ". ")
  --caption-prompt FILE  JSON array of {prefix, name, suffix}, by label position
  --captions-file FILE   JSON array of raw captions
  --json                 machine-readable output`;

async function readJsonArray(path: string, what: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`prompt: cannot read ${path} (${(error as Error).message})`);
  }
  const data = parseJsonFile(text, path);
  if (!Array.isArray(data)) {
    throw new InputError(`expected a JSON array of ${what}`, { file: path, value: data });
  }
  return data;
}

function toJson(chunk: PromptChunk) {
  return {
    query: chunk.query,
    tokensPositive: chunk.tokensPositive.map((spans) => (spans.length === 1 ? spans[0] : spans)),
    tokens: chunk.encoding.tokens,
    inputIds: [...chunk.encoding.inputIds.subarray(0, chunk.encoding.length)],
    charToToken: chunk.encoding.charToToken,
    positiveMapLabelToToken: Object.fromEntries(
      [...chunk.positiveMapLabelToToken].map(([k, v]) => [String(k), v]),
    ),
    droppedLabels: chunk.droppedLabels,
  };
}

/** The `prompt` subcommand. */
export const command: Command = {
  name: "prompt",
  summary: "show GLIP's exact prompts, tokens and label-to-token maps",
  async run(args) {
    const parsed = await parseCommandArgs("prompt", args, {
      task: { type: "string" },
      prompt: { type: "string" },
      "names-file": { type: "string" },
      chunk: { type: "string" },
      separator: { type: "string" },
      "caption-prompt": { type: "string" },
      "captions-file": { type: "string" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const tokenizer = await loadBertTokenizer();
    let chunks: PromptChunk[];
    const suite = parsed.positionals[0];
    const namesFile = stringFlag(parsed, "names-file");
    const captionsFile = stringFlag(parsed, "captions-file");
    const sources = [suite, namesFile, captionsFile].filter((s) => s !== undefined).length;
    if (sources !== 1) {
      throw new UsageError(
        "prompt: give exactly one of: a suite with --task, --names-file, --captions-file",
      );
    }
    if (suite) {
      if (suite !== "odinw") {
        throw new UsageError(`prompt: the suite form supports odinw (got '${suite}')`);
      }
      const taskName = stringFlag(parsed, "task");
      if (!taskName) throw new UsageError("prompt odinw: --task NAME is required");
      const variant = (stringFlag(parsed, "prompt") ?? "raw") as PromptVariant;
      if (variant !== "raw" && variant !== "engineered") {
        throw new UsageError(`prompt: --prompt must be raw or engineered (got '${variant}')`);
      }
      const { names, captionPrompt } = taskPrompt(odinwTask(taskName), variant);
      chunks = buildChunkedPrompts(tokenizer, names, { captionPrompt });
    } else if (namesFile) {
      const names = await readJsonArray(namesFile, "names");
      names.forEach((n, i) => {
        if (typeof n !== "string") {
          throw new InputError("every name must be a string", {
            file: namesFile,
            field: `[${i}]`,
            value: n,
          });
        }
      });
      const captionFile = stringFlag(parsed, "caption-prompt");
      const captionPrompt = captionFile
        ? (await readJsonArray(captionFile, "{prefix, name, suffix}")) as CaptionPrompt[]
        : undefined;
      chunks = buildChunkedPrompts(tokenizer, names as string[], {
        chunkSize: integerFlag("prompt", parsed, "chunk", { min: 1 }),
        separator: stringFlag(parsed, "separator") ?? ". ",
        captionPrompt,
      });
    } else {
      const captions = await readJsonArray(captionsFile!, "captions");
      chunks = captions.map((caption, i) => {
        if (typeof caption !== "string") {
          throw new InputError("every caption must be a string", {
            file: captionsFile!,
            field: `[${i}]`,
            value: caption,
          });
        }
        return buildCaptionPrompt(tokenizer, caption, []);
      });
    }
    for (const chunk of chunks) for (const warning of chunk.warnings) warn(warning);
    if (booleanFlag(parsed, "json")) {
      outJson(chunks.map(toJson));
      return 0;
    }
    chunks.forEach((chunk, i) => {
      const j = toJson(chunk);
      out(`chunk ${i + 1}/${chunks.length}`);
      out(`  query:  ${JSON.stringify(j.query)}`);
      out(`  tokens: ${j.tokens.join(" ")}`);
      out(`  ids:    ${j.inputIds.join(" ")}`);
      if (chunk.labels.length) {
        out(`  labels -> spans -> tokens:`);
        chunk.labels.forEach((label, k) => {
          const tokens = chunk.positiveMapLabelToToken.get(label);
          out(
            `    ${label}: ${JSON.stringify(chunk.tokensPositive[k][0])} -> ${
              tokens
                ? tokens.map((t) => `${t}:${chunk.encoding.tokens[t - 1]}`).join(" ")
                : "(no token: left out of the map, never detected)"
            }`,
          );
        });
      }
    });
    return 0;
  },
};
