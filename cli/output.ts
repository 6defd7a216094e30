/**
 * Terminal output: results on stdout, everything else on stderr; colour only when the stream
 * is a terminal and `NO_COLOR` is unset; a progress bar only when stderr is a terminal.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Whether colour may be used on a stream. */
export function useColor(stream: "stdout" | "stderr"): boolean {
  if (Deno.env.get("NO_COLOR") !== undefined) return false;
  return (stream === "stdout" ? Deno.stdout : Deno.stderr).isTerminal();
}

function paint(code: string, text: string, stream: "stdout" | "stderr"): string {
  return useColor(stream) ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** Writes a line of results to stdout. */
export function out(line = ""): void {
  Deno.stdout.writeSync(encoder.encode(`${line}\n`));
}

/** Writes JSON to stdout. */
export function outJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** Writes an informational line to stderr. */
export function info(line: string): void {
  Deno.stderr.writeSync(encoder.encode(`${line}\n`));
}

/** Writes a warning to stderr. */
export function warn(line: string): void {
  info(`${paint("33", "warning:", "stderr")} ${line}`);
}

/** Writes an error to stderr. */
export function errorLine(line: string): void {
  info(`${paint("31", "error:", "stderr")} ${line}`);
}

/** Bold text for stdout (when coloured). */
export function bold(text: string): string {
  return paint("1", text, "stdout");
}

/** Formats rows as an aligned text table; numbers right-aligned. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  const numeric = header.map((_, i) =>
    rows.length > 0 &&
    rows.every((row) => typeof row[i] === "number" || /^-?[\d.]+%?$|^—$/.test(String(row[i])))
  );
  const line = (row: string[]) =>
    row.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ")
      .trimEnd();
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)]
    .join("\n");
}

/** A progress reporter: a bar on a terminal, periodic lines otherwise (or nothing when quiet). */
export interface Progress {
  tick(done: number, note?: string): void;
  end(note?: string): void;
}

/** How a progress reporter writes and tells time; the defaults are stderr and the real clock. */
export interface ProgressOptions {
  /** What is counted. @default "img" */
  unit?: string;
  /**
   * Seconds between the progress lines written when stderr is not a terminal (a Slurm or
   * Kubernetes log). @default 30
   */
  everySeconds?: number;
  /** Write nothing at all, neither bar nor lines nor the summary. @default false */
  quiet?: boolean;
  /** Steps done before this reporter started (a resumed run): not counted in the rate. @default 0 */
  alreadyDone?: number;
  /** Whether stderr is a terminal (a bar) or not (periodic lines). @default `Deno.stderr.isTerminal()` */
  terminal?: boolean;
  /** Milliseconds of a monotonic clock. @default `performance.now` */
  now?: () => number;
  /** Writes raw text to stderr. @default `Deno.stderr.writeSync` */
  write?: (text: string) => void;
}

/** The default of `--progress-every`, in seconds. */
export const DEFAULT_PROGRESS_SECONDS = 30;

/** `1h02m`, `3m05s`, `42s`: a duration for a log line. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(rest).padStart(2, "0")}s`;
  return `${rest}s`;
}

/**
 * Creates a progress reporter for `total` steps labelled `label`. On a terminal it redraws one
 * line with a bar, rate and ETA; elsewhere (a log file, a cluster job's log) it writes a line
 * `label: done/total img, R img/s, ETA T` every `everySeconds`; both end with a summary line.
 * With `alreadyDone`, done counts from there and the rate and ETA from this run's steps.
 * `quiet` writes nothing.
 */
export function progress(
  label: string,
  total: number,
  unitOrOptions: string | ProgressOptions = {},
): Progress {
  const options = typeof unitOrOptions === "string" ? { unit: unitOrOptions } : unitOrOptions;
  if (options.quiet) return { tick() {}, end() {} };
  const unit = options.unit ?? "img";
  const now = options.now ?? (() => performance.now());
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  const everyMs = 1000 * (options.everySeconds ?? DEFAULT_PROGRESS_SECONDS);
  const started = now();
  const already = options.alreadyDone ?? 0;
  let last = terminal ? 0 : started;
  const rate = (done: number, at: number) =>
    (done - already) / Math.max(1e-9, (at - started) / 1000);
  return {
    tick(done, note) {
      const at = now();
      const perSecond = rate(done, at);
      const eta = perSecond > 0 ? (total - done) / perSecond : Infinity;
      if (!terminal) {
        if (at - last < everyMs) return;
        last = at;
        write(
          `${label}: ${done}/${total} ${unit}, ${perSecond.toFixed(2)} ${unit}/s, ETA ${
            formatDuration(eta)
          }${note ? ` ${note}` : ""}\n`,
        );
        return;
      }
      if (at - last < 100 && done < total) return;
      last = at;
      const fraction = total > 0 ? done / total : 1;
      const width = 24;
      const filled = Math.round(fraction * width);
      const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
      const text = `${label} ${bar} ${done}/${total} ${perSecond.toFixed(1)} ${unit}/s ETA ${
        Number.isFinite(eta) ? eta.toFixed(0) : "?"
      }s${note ? ` ${note}` : ""}`;
      write(`\r\x1b[2K${text}`);
    },
    end(note) {
      const seconds = (now() - started) / 1000;
      const summary = `${label}: ${total - already} ${unit} in ${seconds.toFixed(1)}s${
        already > 0 ? ` (${already} before: resumed)` : ""
      }${note ? ` ${note}` : ""}`;
      write(`${terminal ? "\r\x1b[2K" : ""}${summary}\n`);
    },
  };
}
