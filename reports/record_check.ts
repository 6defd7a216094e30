/**
 * The report's own check of a run record, on top of `validateRunRecord`: every field a page
 * reads has the type the page needs (numbers finite, names strings, lists lists), so a record
 * from someone else is refused with its file, field and value instead of failing half-way
 * through a page or rendering a wrong number.
 *
 * @module
 */
import type { MetricResult, RunRecord } from "../benchmarks/run_record.ts";
import { InputError } from "../core/errors.ts";
import { readComparisonContext } from "./comparison.ts";
import { validateParityChecks } from "../benchmarks/parity_record.ts";

/** The largest run record a report reads (bytes). */
export const MAX_RECORD_BYTES = 256 * 2 ** 20;

type Kind = "string" | "number" | "boolean" | "object" | "array";

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  if (typeof value === "number" && !Number.isFinite(value)) return "non-finite number";
  return typeof value;
}

/** Checks records field by field; the first bad field throws. */
class Checker {
  constructor(readonly file: string) {}

  is(field: string, value: unknown, kind: Kind, optional = false): void {
    if (optional && value === undefined) return;
    if (kindOf(value) !== kind) {
      throw new InputError(`expected ${kind}, found ${kindOf(value)}`, {
        file: this.file,
        field,
        value,
      });
    }
  }

  numbers(field: string, value: unknown, optional = false): void {
    if (optional && value === undefined) return;
    this.is(field, value, "object");
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      this.is(`${field}.${key}`, v, "number");
    }
  }

  metric(field: string, result: MetricResult): void {
    this.numbers(`${field}.named`, result.named);
    for (const [id, values] of Object.entries(result.perCategory ?? {})) {
      this.numbers(`${field}.perCategory.${id}`, values);
    }
    for (const [type, values] of Object.entries(result.byType ?? {})) {
      this.numbers(`${field}.byType.${type}`, values);
    }
    if (result.prCurves !== undefined) {
      this.is(`${field}.prCurves`, result.prCurves, "object");
      for (const key of ["iou50", "iou50to95"] as const) {
        const curve = result.prCurves[key];
        this.is(`${field}.prCurves.${key}`, curve, "array");
        curve.forEach((v, i) => this.is(`${field}.prCurves.${key}[${i}]`, v, "number"));
      }
    }
  }
}

/**
 * Checks the fields a report page reads. Throws an {@link InputError} naming `file`, the field
 * and its value. Expects a record that `validateRunRecord` accepted.
 */
export function checkRecordForReport(record: RunRecord, file: string): void {
  const c = new Checker(file);
  c.is("model.name", record.model.name, "string");
  c.is("model.configName", record.model.configName, "string");
  c.is("model.bundleSha256", record.model.bundleSha256, "string");
  c.is("model.checkpointSha256", record.model.checkpointSha256, "string", true);
  c.is("model.demo", record.model.demo, "boolean");
  const engine = record.engine as unknown as Record<string, unknown>;
  for (const key of ["engine", "device", "executionProvider", "dtype"]) {
    c.is(`engine.${key}`, engine[key], "string", key === "dtype");
  }
  c.is("settings.split", record.settings.split, "string");
  c.is("settings.promptVariant", record.settings.promptVariant, "string", true);
  c.is("settings.limit", record.settings.limit, "number", true);
  c.is("settings.shard", record.settings.shard, "string", true);
  c.is("provenance.dataHash", record.provenance.dataHash, "string");
  c.is("provenance.machine", record.provenance.machine, "object");
  c.is("provenance.machine.os", record.provenance.machine.os, "string");
  c.is("provenance.machine.arch", record.provenance.machine.arch, "string");
  c.is("provenance.machine.cpus", record.provenance.machine.cpus, "number");
  c.is("provenance.machine.memoryBytes", record.provenance.machine.memoryBytes, "number");
  c.is("summary.metric", record.summary.metric, "string");
  c.is("summary.byShots", record.summary.byShots, "object", true);
  for (const [shots, value] of Object.entries(record.summary.byShots ?? {})) {
    c.numbers(`summary.byShots.${shots}`, value);
  }
  for (const key of ["wallSeconds", "imagesPerSecond", "peakRssBytes"] as const) {
    c.is(`timings.${key}`, record.timings[key], "number");
  }
  c.is("timings.stages", record.timings.stages, "object");
  for (const [stage, timing] of Object.entries(record.timings.stages)) {
    c.numbers(`timings.stages.${stage}`, timing);
  }
  record.tasks.forEach((task, i) => {
    const field = `tasks[${i}]`;
    c.is(`${field}.dataset`, task.dataset, "string");
    c.is(`${field}.split`, task.split, "string");
    c.is(`${field}.images`, task.images, "number");
    c.is(`${field}.annotations`, task.annotations, "number");
    c.is(`${field}.categories`, task.categories, "array");
    task.categories.forEach((category, j) => {
      c.is(`${field}.categories[${j}]`, category, "object");
      c.is(`${field}.categories[${j}].id`, category.id, "number");
      c.is(`${field}.categories[${j}].name`, category.name, "string");
    });
    task.prompts.forEach((prompt, j) => {
      c.is(`${field}.prompts[${j}]`, prompt, "object");
      c.is(`${field}.prompts[${j}].query`, prompt.query, "string");
      c.is(`${field}.prompts[${j}].hash`, prompt.hash, "string");
      c.is(`${field}.prompts[${j}].droppedLabels`, prompt.droppedLabels, "array");
    });
    if (task.result) c.metric(`${field}.result`, task.result);
    c.is(`${field}.cells`, task.cells, "array", true);
    (task.cells ?? []).forEach((cell, j) => {
      if (cell.shots !== "all") c.is(`${field}.cells[${j}].shots`, cell.shots, "number");
      c.is(`${field}.cells[${j}].seed`, cell.seed, "number");
      c.metric(`${field}.cells[${j}].test`, cell.test);
    });
    if (task.card !== undefined) {
      c.is(`${field}.card.summary`, task.card.summary, "string");
      c.is(`${field}.card.quirks`, task.card.quirks, "array", true);
    }
  });
  readComparisonContext(record, file);
  // the parity section renders every field and recomputes no verdict it has not checked
  if (record.engineParity !== undefined) {
    validateParityChecks(record.engineParity, file, record.engine);
  }
}
