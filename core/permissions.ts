/**
 * What to say when Deno refuses a permission: the `deno task` commands run with narrow
 * permissions (deno.json), so Deno's own advice ("run again with the --allow-x flag") cannot be
 * followed by adding a flag to `deno task`. This names the flag and the two ways to grant it.
 *
 * @module
 */

/**
 * Whether an error is Deno refusing a permission. A refused dynamic import is a plain TypeError
 * whose message asks for the flag ("Requires import access to ..., run again with the
 * --allow-import flag"), so the message is read too.
 */
export function isPermissionError(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied ||
    (error instanceof Error &&
      /^Requires [a-z]+ access to .*--allow-[a-z-]+ flag/.test(error.message));
}

/**
 * Advice for a permission error (undefined for other errors): which `--allow-*` flag Deno
 * asked for, and how to grant it when running `command`.
 *
 * @example
 * ```ts
 * import { permissionAdvice } from "./permissions.ts";
 * const error = new Deno.errors.NotCapable(
 *   'Requires run access to "sh", run again with the --allow-run flag',
 * );
 * console.assert(permissionAdvice(error, "bench")!.includes("--allow-run"));
 * ```
 */
export function permissionAdvice(error: unknown, command: string): string | undefined {
  if (!isPermissionError(error)) return undefined;
  const message = (error as Error).message;
  const flag = /--allow-[a-z-]+/.exec(message)?.[0] ?? "the missing --allow-* flag";
  const what = /Requires ([a-z]+ access to [^,]+)/.exec(message)?.[1];
  return `'deno task ${command}' runs with narrow Deno permissions and this needs ${flag}${
    what ? ` (${what})` : ""
  }: run 'deno run -A cli/main.ts ${command} ...' (or 'deno task glip ${command} ...', which ` +
    `grants everything), or add only ${flag} to the deno run line of the ${command} task; see ` +
    "README, Permissions";
}
