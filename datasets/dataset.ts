/**
 * The contract of a dataset entry in the registry: a card describing it and a check of what
 * is present under a data root.
 *
 * @module
 */

/** Human-readable facts about a dataset. */
export interface DatasetCard {
  /** Dataset name. */
  name: string;
  /** One line saying what it is. */
  summary: string;
  /** Split used by default and the others available. */
  splits: string[];
  /** Known quirks worth reading before trusting a number. */
  quirks?: string[];
  /** Citation (BibTeX or a reference line). */
  citation?: string;
  /** Free-form counts (images, boxes, categories) per split, where known. */
  counts?: Record<string, Record<string, number>>;
}

/** What is present under a data root for one dataset. */
export interface DatasetCheck {
  /** Whether everything needed to run it is there. */
  present: boolean;
  /** One line per file or split: what was found or what is missing. */
  lines: string[];
}

/** A registered dataset. */
export interface DatasetDefinition {
  /** What the dataset is. */
  card: DatasetCard;
  /** Checks files under `root` (sizes and sha256 where known). */
  check(root: string): Promise<DatasetCheck>;
}
