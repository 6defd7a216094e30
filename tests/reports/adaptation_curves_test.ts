/**
 * The data-efficiency chart of a run set holding GLIP's three adaptation settings draws a curve
 * per protocol, each named, with a full-data point, and says when GLIP's prepared k-shot files
 * were the source.
 */
import { assert, assertEquals } from "../assert.ts";
import { makeRecord } from "./records.ts";
import { renderReportPage } from "../../reports/page.ts";
import type { RunRecord } from "../../benchmarks/run_record.ts";

function efficiencySeries(records: RunRecord[]): { label: string; data: (number | null)[] }[] {
  const html = renderReportPage("adaptation", records);
  const data = JSON.parse(
    html.split('<script type="application/json" id="report-data">')[1].split("</script>")[0],
  );
  return data.charts["chart-efficiency"].series;
}

Deno.test("prompt tuning, full tuning and linear probing of one model are three named curves", () => {
  const cells = { "1": [3, 30], "3": [3, 30], all: [3] };
  const records = ["prompt-tuning", "few-shot", "linear-probe"].map((protocol) =>
    makeRecord({
      protocol,
      cells,
      value: 0.3,
      patch: (r) => {
        r.id = `${r.id}-${protocol}`;
        r.settings.fewShotSource = protocol === "linear-probe" ? "prepared" : "sampled";
      },
    })
  );
  const series = efficiencySeries(records);
  const labels = series.map((s) => s.label);
  assertEquals(new Set(labels).size, labels.length, `distinct labels: ${labels}`);
  assert(labels.some((l) => l.endsWith("· prompt-tuning")), labels.join("; "));
  assert(labels.some((l) => l.endsWith("· few-shot")), labels.join("; "));
  assert(
    labels.some((l) => l.endsWith("· linear-probe, prepared k-shot files")),
    labels.join("; "),
  );
  // the x axis is 0, 1, 3, 5, 10, all: the full-data point is drawn
  for (const s of series.filter((s) => s.label.includes("·"))) {
    assert(s.data[5] !== null, `${s.label} has its full-data point`);
  }
});
