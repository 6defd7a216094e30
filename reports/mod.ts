/**
 * Reports: static HTML dashboards from run records, and their like-for-like comparison with
 * published GLIP numbers.
 * @module
 */
export {
  buildSite,
  buildSiteFromRuns,
  readRuns,
  resultsCsv,
  resultsMarkdown,
  type RunFile,
  type SiteOptions,
} from "./site.ts";
export { headlineNumbers, renderReportPage, verdict } from "./page.ts";
export { checkGates, comparabilityDifferences } from "./compare.ts";
export {
  checkReferenceKey,
  comparePublished,
  type ComparisonContext,
  type ComparisonQuery,
  type ComparisonResult,
  readComparisonContext,
  recogniseModel,
  runExclusion,
} from "./comparison.ts";
export {
  PUBLISHED_MODELS,
  PUBLISHED_NUMBERS,
  type PublishedNumber,
  RELEASED_CHECKPOINT_SHA256,
} from "./reference_numbers.ts";
export { escapeHtml, relativeHref } from "./html.ts";
