/**
 * The plugin API. A plugin is an ES module (a path or a URL given with `--plugin`, or listed
 * under `plugins` in a `--config` file) whose default export is a function receiving a
 * {@link PluginApi}:
 *
 * ```ts ignore
 * import type { PluginApi } from "glip-bench/plugin";
 * export default function register(api: PluginApi) {
 *   api.engines.register({ name: "my-engine", summary: "...", load: () => myEngineFactory });
 * }
 * ```
 *
 * Entries registered by a plugin are lazy like the built-ins, carry the plugin's specifier as
 * their origin, and run through the same conformance suite (`checkConformance` of
 * `glip-bench/engines`). This module also exports the registries themselves and the contracts of
 * what they hold (suites, protocols; engines and datasets have theirs in `glip-bench/engines` and
 * `glip-bench/datasets`).
 *
 * @example Load a plugin module, then find its entry in the registry
 * ```ts
 * import { loadPlugin, protocols } from "./plugin_api.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   const plugin = `${dir}/plugin.ts`;
 *   await Deno.writeTextFile(
 *     plugin,
 *     `export default (api) => api.protocols.register({
 *       name: "example-protocol",
 *       summary: "an example",
 *       load: () => ({ name: "example-protocol", summary: "an example", adapts: false }),
 *     });`,
 *   );
 *   await loadPlugin(plugin);
 *   const entry = protocols.entry("example-protocol");
 *   assert.equal(entry.origin, plugin);
 *   assert.equal((await protocols.get("example-protocol")).adapts, false);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { UsageError } from "./errors.ts";
import { isPermissionError } from "./permissions.ts";
import type { Registry, RegistryEntry } from "./registry.ts";
import { datasets, engines, protocols, suites } from "./registries.ts";
import type { EngineFactory } from "../engines/engine.ts";
import type { ProtocolDefinition, SuiteDefinition } from "../benchmarks/suite.ts";
import type { DatasetDefinition } from "../datasets/dataset.ts";

export { Registry, type RegistryEntry } from "./registry.ts";
export { datasets, engines, protocols, registerBuiltins, suites } from "./registries.ts";
export type {
  CaptionPromptEntry,
  CustomSuite,
  DetectionSuite,
  DetectionTask,
  GroundingSettings,
  ProtocolDefinition,
  SuiteDefinition,
  SuiteOptions,
  SuiteRunContext,
} from "../benchmarks/suite.ts";

/** What a plugin may register into. `register` stamps the plugin's origin on each entry. */
export interface PluginApi {
  /** The engine registry (`--engine NAME`). */
  engines: { register(entry: RegistryEntry<EngineFactory>): void };
  /** The suite registry (`deno task bench NAME`). */
  suites: { register(entry: RegistryEntry<SuiteDefinition>): void };
  /** The protocol registry (`--protocol NAME`). */
  protocols: { register(entry: RegistryEntry<ProtocolDefinition>): void };
  /** The dataset registry (cards and presence checks). */
  datasets: { register(entry: RegistryEntry<DatasetDefinition>): void };
}

function scoped<T>(registry: Registry<T>, origin: string) {
  return { register: (entry: RegistryEntry<T>) => registry.register({ ...entry, origin }) };
}

const loadedPlugins = new Set<string>();

/** Resolves a plugin specifier: URLs stay, paths become file URLs relative to the cwd. */
export function pluginUrl(specifier: string): string {
  if (/^(https?|file|npm|data):/.test(specifier)) return specifier;
  return pathToFileURL(resolve(specifier)).href;
}

/**
 * Imports a plugin module and calls its default export with the {@link PluginApi}. Loading the
 * same plugin twice is a no-op.
 */
export async function loadPlugin(specifier: string): Promise<void> {
  const url = pluginUrl(specifier);
  if (loadedPlugins.has(url)) return;
  let module: { default?: unknown };
  try {
    module = await import(url);
  } catch (error) {
    // a refused permission keeps its type, so the CLI can say which flag the task lacks
    if (isPermissionError(error)) throw error;
    throw new UsageError(
      `--plugin ${specifier}: cannot load the module (${(error as Error).message})`,
    );
  }
  if (typeof module.default !== "function") {
    throw new UsageError(
      `--plugin ${specifier}: the module must export a default function (api) => void that registers entries`,
    );
  }
  const api: PluginApi = {
    engines: scoped(engines, specifier),
    suites: scoped(suites, specifier),
    protocols: scoped(protocols, specifier),
    datasets: scoped(datasets, specifier),
  };
  await module.default(api);
  loadedPlugins.add(url);
}
