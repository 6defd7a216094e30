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
export {
  contentSecurityPolicy,
  DEMO_BANNER,
  type HeadlineNumber,
  headlineNumbers,
  renderReportPage,
  verdict,
} from "./page.ts";
export { checkGates, comparabilityDifferences } from "./compare.ts";
export {
  checkReferenceKey,
  comparePublished,
  type ComparisonContext,
  type ComparisonQuery,
  type ComparisonResult,
  type Match,
  readComparisonContext,
  recogniseModel,
  type Recognition,
  runExclusion,
} from "./comparison.ts";
export {
  type Attribute,
  PUBLISHED_MODELS,
  PUBLISHED_NUMBERS,
  type PublishedModel,
  type PublishedNumber,
  type PublishedProtocol,
  type PublishedSuite,
  RELEASED_CHECKPOINT_SHA256,
} from "./reference_numbers.ts";
export { escapeHtml, relativeHref } from "./html.ts";
export type { MetricResult, RunRecord, TaskResult } from "../benchmarks/run_record.ts";
