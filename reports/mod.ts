/**
 * Reports: static HTML dashboards from run records.
 * @module
 */
export { buildSite, readRuns, resultsCsv, resultsMarkdown, type SiteOptions } from "./site.ts";
export { renderReportPage, verdict } from "./page.ts";
export { checkGates, comparabilityDifferences } from "./compare.ts";
export { referenceFewShot, referenceZeroShot } from "./reference_numbers.ts";
