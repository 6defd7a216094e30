/**
 * The comparability guard and the CI gates of `deno task report`.
 * @module
 */
import type { RunRecord } from "../benchmarks/run_record.ts";
import { GateError } from "../core/errors.ts";
import { headlineNumbers, runLabel } from "./page.ts";

/**
 * What makes runs incomparable: different suites, protocols, data, splits or prompts. Returns
 * one sentence per difference (empty when comparable).
 */
export function comparabilityDifferences(records: RunRecord[]): string[] {
  const differences: string[] = [];
  const [base, ...others] = records;
  if (!base) return differences;
  for (const other of others) {
    const who =
      `${other.model.name}/${other.engine.engine} vs ${base.model.name}/${base.engine.engine}`;
    if (other.suite !== base.suite) {
      differences.push(`${who}: suites differ (${other.suite} vs ${base.suite})`);
    }
    if (other.protocol !== base.protocol) {
      differences.push(`${who}: protocols differ (${other.protocol} vs ${base.protocol})`);
    }
    if (other.provenance.dataHash !== base.provenance.dataHash) {
      differences.push(`${who}: annotation files differ (data hash)`);
    }
    if (other.settings.split !== base.settings.split) differences.push(`${who}: splits differ`);
    if ((other.settings.limit ?? 0) !== (base.settings.limit ?? 0)) {
      differences.push(`${who}: image limits differ (--limit)`);
    }
    const prompts = (r: RunRecord) =>
      JSON.stringify(r.tasks.map((t) => [t.name, t.prompts.map((p) => p.hash)]));
    if (prompts(other) !== prompts(base)) differences.push(`${who}: tasks or prompts differ`);
  }
  return differences;
}

/**
 * `--fail-below X` (a run's headline number below X) and `--max-regression D` (a run's headline
 * more than D below the first run's): throws a {@link GateError} (exit 3) naming the run. The
 * headline is the first of {@link headlineNumbers}: the mean AP over tasks (at the largest shot
 * count for adapted runs), COCO or LVIS AP, or Flickr30K R@1 of the first split, never a
 * val+test mean. Values are fractions (0..1).
 */
export function checkGates(
  records: RunRecord[],
  gates: { failBelow?: number; maxRegression?: number },
): string[] {
  const lines: string[] = [];
  const failures: string[] = [];
  const headline = (record: RunRecord) => {
    const first = headlineNumbers(record)[0];
    return first ?? { label: "no result", value: -1 };
  };
  for (const record of records) {
    const { label, value } = headline(record);
    if (gates.failBelow !== undefined) {
      const ok = value >= gates.failBelow;
      (ok ? lines : failures).push(
        `${runLabel(record)}: ${label} ${value.toFixed(4)} ${ok ? ">=" : "<"} ${gates.failBelow}`,
      );
    }
  }
  if (gates.maxRegression !== undefined && records.length > 1) {
    const base = headline(records[0]);
    for (const record of records.slice(1)) {
      const mine = headline(record);
      const drop = base.value - mine.value;
      const ok = drop <= gates.maxRegression;
      (ok ? lines : failures).push(
        `${runLabel(record)}: ${drop >= 0 ? "drop" : "gain"} of ${
          Math.abs(drop).toFixed(4)
        } in ${mine.label} vs the first run (max regression ${gates.maxRegression})`,
      );
    }
  }
  if (failures.length) throw new GateError(`gate failed: ${failures.join("; ")}`);
  return lines;
}
