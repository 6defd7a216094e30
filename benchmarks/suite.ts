/**
 * Contracts of benchmark suites and protocols, the units `deno task bench` runs. Plugins
 * register their own through `core/plugin_api.ts`.
 *
 * @module
 */

/** Context handed to a suite or protocol run by the CLI. */
export interface SuiteRunContext {
  /** Remaining command-line arguments after the suite name. */
  args: string[];
  /** Print results as JSON. */
  json: boolean;
}

/** A benchmark suite: `odinw`, `coco`, `lvis`, `flickr30k`, or a plugin's. */
export interface SuiteDefinition {
  name: string;
  summary: string;
  /** Runs the suite from command-line arguments; returns the exit code. */
  run(context: SuiteRunContext): Promise<number>;
}

/** An evaluation protocol: `zero-shot`, `few-shot`, `prompt-tuning`. */
export interface ProtocolDefinition {
  name: string;
  summary: string;
  /** Whether the protocol adapts the model before evaluation. */
  adapts: boolean;
}
