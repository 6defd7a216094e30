/**
 * `deno task eval coco|lvis|flickr30k`: metrics identical to pycocotools, lvis-api and MDETR.
 * @module
 */
import { booleanFlag, integerFlag, parseCommandArgs, requiredFlag } from "../args.ts";
import type { Command } from "../command.ts";
import { formatTable, out, outJson, warn } from "../output.ts";
import { InputError, UsageError } from "../../core/errors.ts";
import { unknownNameMessage } from "../../core/did_you_mean.ts";
import {
  type CocoDetection,
  evaluateCoco,
  undeclaredCategories,
} from "../../benchmarks/metrics/coco.ts";
import { evaluateLvis } from "../../benchmarks/metrics/lvis.ts";
import { evaluateFlickr30k, type FlickrPrediction } from "../../benchmarks/metrics/flickr30k.ts";
import { parseJsonFile } from "../../datasets/coco_json.ts";

const HELP = `deno task eval coco --gt GT.json --dt DT.json [--json]
deno task eval lvis --gt GT.json --dt DT.json [--max-dets N|-1] [--json]
deno task eval flickr30k --root DIR --subset test|val --pred P.json [--merged] [--json]

Examples:
  deno task eval coco --gt instances_val2017.json --dt detections.bbox.json
  deno task eval lvis --gt lvis_v1_minival.json --dt dets.json --max-dets -1     (GLIP's FixedAP: no cap)
  deno task eval flickr30k --root flickr30k_entities --subset test --pred preds.json

The numbers equal pycocotools' COCOeval, lvis-api's LVISEval and MDETR's Flickr30K evaluator.
Empty detection files give the reference tools' -1 / 0 results.`;

const ROWS: [string, string, string, string][] = [
  ["Average Precision", "(AP) @[ IoU=0.50:0.95", "all", "100"],
  ["Average Precision", "(AP) @[ IoU=0.50     ", "all", "100"],
  ["Average Precision", "(AP) @[ IoU=0.75     ", "all", "100"],
  ["Average Precision", "(AP) @[ IoU=0.50:0.95", "small", "100"],
  ["Average Precision", "(AP) @[ IoU=0.50:0.95", "medium", "100"],
  ["Average Precision", "(AP) @[ IoU=0.50:0.95", "large", "100"],
  ["Average Recall", "(AR) @[ IoU=0.50:0.95", "all", "1"],
  ["Average Recall", "(AR) @[ IoU=0.50:0.95", "all", "10"],
  ["Average Recall", "(AR) @[ IoU=0.50:0.95", "all", "100"],
  ["Average Recall", "(AR) @[ IoU=0.50:0.95", "small", "100"],
  ["Average Recall", "(AR) @[ IoU=0.50:0.95", "medium", "100"],
  ["Average Recall", "(AR) @[ IoU=0.50:0.95", "large", "100"],
];

function value(v: number): string {
  return v < 0 ? "    —" : v.toFixed(3).padStart(6);
}

/** pycocotools' 12-line summary, with "—" for undefined values. */
export function cocoSummary(stats: number[]): string {
  return ROWS.map(([kind, iou, area, dets], i) =>
    ` ${kind.padEnd(18)} ${iou} | area=${area.padStart(6)} | maxDets=${dets.padStart(3)} ] = ${
      value(stats[i])
    }`
  ).join("\n");
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`eval: cannot read ${path} (${(error as Error).message})`);
  }
  return parseJsonFile(text, path);
}

/** Reads ground truth: a JSON object whose images, annotations and categories are lists. */
async function readGroundTruth<T>(path: string): Promise<T> {
  const data = await readJson(path);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new InputError("expected a JSON object with images, annotations and categories", {
      file: path,
      value: Array.isArray(data) ? "a list" : typeof data,
    });
  }
  for (const key of ["images", "annotations", "categories"]) {
    const value = (data as Record<string, unknown>)[key];
    if (!Array.isArray(value)) {
      throw new InputError("must be a list", { file: path, field: key, value: typeof value });
    }
  }
  return data as T;
}

async function readDetections(path: string): Promise<CocoDetection[]> {
  const data = await readJson(path);
  if (!Array.isArray(data)) {
    throw new InputError("expected a JSON list of detections", { file: path, value: typeof data });
  }
  return data as CocoDetection[];
}

function perCategoryTable(
  perCategory: Record<string, Record<string, number>>,
  names: Map<number, string>,
): string {
  const pct = (v: number | undefined) => (v === undefined || v < 0 ? "—" : (100 * v).toFixed(1));
  return formatTable(
    ["id", "category", "AP", "AP50"],
    Object.entries(perCategory).map((
      [id, v],
    ) => [id, names.get(Number(id)) ?? "", pct(v.AP), pct(v.AP50)]),
  );
}

/** The `eval` subcommand. */
export const command: Command = {
  name: "eval",
  summary: "evaluate detections exactly as pycocotools, lvis-api or MDETR's Flickr30K evaluator",
  async run(args) {
    const parsed = await parseCommandArgs("eval", args, {
      gt: { type: "string" },
      dt: { type: "string" },
      "max-dets": { type: "string" },
      root: { type: "string" },
      subset: { type: "string" },
      pred: { type: "string" },
      merged: { type: "boolean" },
    });
    if (booleanFlag(parsed, "help")) {
      out(HELP);
      return 0;
    }
    const metric = parsed.positionals[0];
    const json = booleanFlag(parsed, "json");
    if (metric === "coco") {
      const gtPath = requiredFlag("eval", parsed, "gt");
      const dtPath = requiredFlag("eval", parsed, "dt");
      const gt = await readGroundTruth<Parameters<typeof evaluateCoco>[0]>(gtPath);
      const undeclared = undeclaredCategories(gt);
      if (undeclared) {
        warn(
          `${gtPath}: ${undeclared.annotations} annotation(s) use categories the file does not declare (ids ${
            undeclared.categoryIds.slice(0, 20).join(", ")
          }${
            undeclared.categoryIds.length > 20 ? ", ..." : ""
          }); they are not scored, as pycocotools ignores them`,
        );
      }
      const result = evaluateCoco(gt, await readDetections(dtPath), {}, { gt: gtPath, dt: dtPath });
      if (json) {
        outJson({ stats: result.stats, named: result.named, perCategory: result.perCategory });
      } else {
        out(cocoSummary(result.stats));
        out("");
        out(
          perCategoryTable(
            result.perCategory,
            new Map(gt.categories.map((c) => [c.id, String(c.name ?? "")])),
          ),
        );
      }
      return 0;
    }
    if (metric === "lvis") {
      const gtPath = requiredFlag("eval", parsed, "gt");
      const dtPath = requiredFlag("eval", parsed, "dt");
      const maxDets = integerFlag("eval", parsed, "max-dets", { min: -1, default: 300 })!;
      const gt = await readGroundTruth<Parameters<typeof evaluateLvis>[0]>(gtPath);
      const result = evaluateLvis(gt, await readDetections(dtPath), {
        maxDets,
        file: dtPath,
        gtFile: gtPath,
      });
      if (json) outJson(result);
      else {
        out(
          formatTable(
            ["metric", "value"],
            Object.entries(result.results).map(([k, v]) => [k, v < 0 ? "—" : v.toFixed(3)]),
          ),
        );
        out("");
        out(perCategoryTable(result.perCategory, new Map()));
      }
      return 0;
    }
    if (metric === "flickr30k") {
      const subset = requiredFlag("eval", parsed, "subset");
      if (!["test", "val", "train"].includes(subset)) {
        throw new UsageError(`eval flickr30k: --subset is test, val or train (got '${subset}')`);
      }
      const predPath = requiredFlag("eval", parsed, "pred");
      const predictions = await readJson(predPath);
      if (!Array.isArray(predictions)) {
        throw new InputError("expected a JSON list of predictions", { file: predPath });
      }
      const report = await evaluateFlickr30k(predictions as FlickrPrediction[], {
        root: requiredFlag("eval", parsed, "root"),
        subset: subset as "test",
        merged: booleanFlag(parsed, "merged"),
      });
      if (json) outJson(report);
      else {
        const types = [...new Set(Object.values(report).flatMap((r) => Object.keys(r)))];
        out(
          formatTable(
            ["type", ...Object.keys(report).map((k) => (k === "-1" ? "upper bound" : `R@${k}`))],
            types.map((
              t,
            ) => [
              t,
              ...Object.values(report).map((
                r,
              ) => (r[t] === undefined ? "—" : (100 * r[t]).toFixed(1))),
            ]),
          ),
        );
      }
      return 0;
    }
    throw new UsageError(
      `eval: ${unknownNameMessage("metric", metric ?? "(none)", ["coco", "lvis", "flickr30k"])}`,
    );
  },
};
