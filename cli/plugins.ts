/**
 * Loads the built-ins and any `--plugin` modules named by a command's arguments.
 * @module
 */
import { loadPlugin } from "../core/plugin_api.ts";
import { registerBuiltins } from "../core/registries.ts";
import type { ParsedArgs } from "./args.ts";

/** Registers built-ins, then loads every plugin named by `--plugin` (or `plugins` in --config). */
export async function preparePlugins(parsed: ParsedArgs): Promise<void> {
  registerBuiltins();
  const plugins = (parsed.values.plugin as string[] | undefined) ?? [];
  for (const plugin of plugins) await loadPlugin(plugin);
}
