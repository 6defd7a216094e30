/**
 * The shape of a CLI subcommand.
 * @module
 */

/** One subcommand of `cli/main.ts`. */
export interface Command {
  name: string;
  /** One line for the top-level help. */
  summary: string;
  /** Runs with the arguments after the subcommand name; returns the exit code. */
  run(args: string[]): Promise<number>;
}
