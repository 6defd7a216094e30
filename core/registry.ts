/**
 * Lazy, named registries: an entry is a name, a one-line summary and a loader that imports
 * the implementation only when it is first asked for, so choosing the `onnx` engine never
 * loads onnxruntime-web.
 *
 * @module
 */
import { unknownNameMessage } from "./did_you_mean.ts";
import { UsageError } from "./errors.ts";

/** One registered entry. */
export interface RegistryEntry<T> {
  /** Unique name used on the command line (`--engine onnx`). */
  name: string;
  /** One line shown by `deno task list`. */
  summary: string;
  /** Imports and returns the implementation. Called at most once. */
  load: () => T | Promise<T>;
  /** Where it came from: `builtin` or the plugin's specifier. */
  origin?: string;
}

/**
 * A registry of named, lazily loaded implementations.
 *
 * @example
 * ```ts
 * import { Registry } from "./registry.ts";
 * const suites = new Registry<{ run(): string }>("suite");
 * suites.register({ name: "demo", summary: "a demo", load: () => ({ run: () => "ran" }) });
 * const demo = await suites.get("demo");
 * console.assert(demo.run() === "ran");
 * console.assert(suites.names().includes("demo"));
 * ```
 */
export class Registry<T> {
  readonly #entries = new Map<string, RegistryEntry<T>>();
  readonly #loaded = new Map<string, Promise<T>>();

  /**
   * Creates an empty registry.
   *
   * @param kind What the registry holds, for messages ("engine", "suite", ...).
   */
  constructor(readonly kind: string) {}

  /** Adds an entry; a duplicate name is an error unless `replace` is set. */
  register(entry: RegistryEntry<T>, options: { replace?: boolean } = {}): void {
    if (!/^[a-z0-9][a-z0-9._-]*$/i.test(entry.name)) {
      throw new TypeError(
        `Invalid ${this.kind} name ${
          JSON.stringify(entry.name)
        }: use letters, digits, '.', '_' or '-'`,
      );
    }
    if (this.#entries.has(entry.name) && !options.replace) {
      throw new TypeError(`A ${this.kind} named '${entry.name}' is already registered`);
    }
    this.#entries.set(entry.name, { origin: "builtin", ...entry });
    this.#loaded.delete(entry.name);
  }

  /** Whether a name is registered. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /** Registered entries, sorted by name. */
  list(): RegistryEntry<T>[] {
    return this.names().map((name) => this.#entries.get(name)!);
  }

  /** The entry for a name, or a {@link UsageError} with a did-you-mean suggestion. */
  entry(name: string): RegistryEntry<T> {
    const entry = this.#entries.get(name);
    if (!entry) throw new UsageError(unknownNameMessage(this.kind, name, this.names()));
    return entry;
  }

  /** Loads (once) and returns the implementation registered under `name`. */
  get(name: string): Promise<T> {
    const entry = this.entry(name);
    let loaded = this.#loaded.get(name);
    if (!loaded) {
      loaded = Promise.resolve().then(entry.load);
      this.#loaded.set(name, loaded);
    }
    return loaded;
  }
}
