/**
 * Argument parsing shared by every subcommand: `node:util` parseArgs in strict mode, a JSON
 * `--config FILE` merged under the flags (unknown keys rejected with a suggestion), and
 * usage errors that exit 2.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { unknownNameMessage } from "../core/did_you_mean.ts";
import { InputError, UsageError } from "../core/errors.ts";

/** Option specs in parseArgs' format. */
export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** Options every subcommand accepts. */
export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  config: { type: "string" },
  plugin: { type: "string", multiple: true },
} as const satisfies OptionSpecs;

/** Parsed flags and positionals. */
export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Turns a camelCase config key into its kebab-case flag (`maxDets` -> `max-dets`). */
function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Parses `args` strictly against `options` (plus {@link COMMON_OPTIONS}) and merges a
 * `--config FILE` under them: flags win over the file. Config keys may be written as the flag
 * (`"max-dets"`) or in camelCase (`"maxDets"`); `plugins` is an alias of `plugin`.
 */
export async function parseCommandArgs(
  command: string,
  args: string[],
  options: OptionSpecs,
  settings: { configFlag?: string } = {},
): Promise<ParsedArgs> {
  // `export` uses --config for the model preset (as GLIP users expect), so its JSON config file
  // is --config-file.
  const configFlag = settings.configFlag ?? "config";
  const common: OptionSpecs = { ...COMMON_OPTIONS };
  if (configFlag !== "config") {
    delete common.config;
    common[configFlag] = { type: "string" };
  }
  const all: OptionSpecs = { ...common, ...options };
  // `--max-dets -1`: a negative number after a string option is its value, not a flag.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    if (name && all[name]?.type === "string" && /^-\d/.test(args[i + 1] ?? "")) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else {
      joined.push(args[i]);
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joined, options: all, strict: true, allowPositionals: true });
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(message);
    if (unknown) {
      throw new UsageError(
        `${command}: ${
          unknownNameMessage("option", `--${unknown[2]}`, Object.keys(all).map((k) => `--${k}`))
        } See '${command} --help'.`,
      );
    }
    throw new UsageError(`${command}: ${message}. See '${command} --help'.`);
  }
  const values = { ...parsed.values } as ParsedArgs["values"];
  const configPath = values[configFlag] as string | undefined;
  if (configPath) {
    const fromFile = await readConfigFile(configPath, all, configFlag);
    for (const [key, value] of Object.entries(fromFile)) {
      if (values[key] === undefined) values[key] = value;
      else if (key === "plugin") {
        values[key] = [...(value as string[]), ...(values[key] as string[])];
      }
    }
  }
  return { values, positionals: parsed.positionals };
}

async function readConfigFile(
  path: string,
  options: OptionSpecs,
  configFlag: string,
): Promise<ParsedArgs["values"]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(
      `--${configFlag} ${path}: cannot read the file (${(error as Error).message})`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError(`not valid JSON: ${(error as Error).message}`, { file: path });
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new InputError("the config must be a JSON object", { file: path, value: data });
  }
  const allowed = Object.keys(options).filter((k) => k !== configFlag && k !== "help");
  const result: ParsedArgs["values"] = {};
  for (const [rawKey, value] of Object.entries(data as Record<string, unknown>)) {
    const key = rawKey === "plugins" ? "plugin" : flagName(rawKey);
    const spec = options[key];
    if (!spec || !allowed.includes(key)) {
      throw new UsageError(
        `--${configFlag} ${path}: ${unknownNameMessage("config key", rawKey, allowed)}`,
      );
    }
    result[key] = coerceConfigValue(path, rawKey, value, spec);
  }
  return result;
}

function coerceConfigValue(
  file: string,
  key: string,
  value: unknown,
  spec: OptionSpecs[string],
): string | boolean | string[] {
  const one = (v: unknown): string | boolean => {
    if (spec.type === "boolean") {
      if (typeof v !== "boolean") {
        throw new InputError("expected true or false", { file, field: key, value: v });
      }
      return v;
    }
    if (typeof v === "string") return v;
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
    throw new InputError("expected a string or a number", { file, field: key, value: v });
  };
  if (spec.multiple) {
    const list = Array.isArray(value) ? value : [value];
    return list.map((v) => String(one(v)));
  }
  if (Array.isArray(value) && spec.type === "string") return value.map((v) => one(v)).join(",");
  return one(value) as string | boolean;
}

/** A string flag's value, or undefined. */
export function stringFlag(parsed: ParsedArgs, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === "string" ? value : undefined;
}

/** A required string flag; missing is a usage error. */
export function requiredFlag(command: string, parsed: ParsedArgs, name: string): string {
  const value = stringFlag(parsed, name);
  if (value === undefined || value === "") {
    throw new UsageError(`${command}: --${name} is required. See '${command} --help'.`);
  }
  return value;
}

/** A boolean flag. */
export function booleanFlag(parsed: ParsedArgs, name: string): boolean {
  return parsed.values[name] === true;
}

/** Parses an integer flag with bounds; bad values are usage errors naming the value. */
export function integerFlag(
  command: string,
  parsed: ParsedArgs,
  name: string,
  options: { min?: number; max?: number; default?: number } = {},
): number | undefined {
  const raw = stringFlag(parsed, name);
  if (raw === undefined) return options.default;
  const value = Number(raw);
  if (!Number.isInteger(value)) {
    throw new UsageError(`${command}: --${name} must be an integer (got '${raw}')`);
  }
  if (options.min !== undefined && value < options.min) {
    throw new UsageError(`${command}: --${name} must be >= ${options.min} (got ${value})`);
  }
  if (options.max !== undefined && value > options.max) {
    throw new UsageError(`${command}: --${name} must be <= ${options.max} (got ${value})`);
  }
  return value;
}

/** Parses a number flag; bad values are usage errors naming the value. */
export function numberFlag(
  command: string,
  parsed: ParsedArgs,
  name: string,
  fallback?: number,
): number | undefined {
  const raw = stringFlag(parsed, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`${command}: --${name} must be a number (got '${raw}')`);
  }
  return value;
}

/** Splits a comma-separated list flag (`--tasks a,b`), trimming blanks. */
export function listFlag(parsed: ParsedArgs, name: string): string[] | undefined {
  const raw = stringFlag(parsed, name);
  if (raw === undefined) return undefined;
  return raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Parses a comma-separated list of integers (`--shots 1,3,5`). */
export function integerListFlag(
  command: string,
  parsed: ParsedArgs,
  name: string,
): number[] | undefined {
  const items = listFlag(parsed, name);
  if (items === undefined) return undefined;
  return items.map((item) => {
    const value = Number(item);
    if (!Number.isInteger(value)) {
      throw new UsageError(`${command}: --${name} takes integers (got '${item}')`);
    }
    return value;
  });
}
