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

/**
 * Creates a progress reporter for `total` steps labelled `label`. On a terminal it redraws one
 * line with a bar, rate and ETA; elsewhere it prints nothing until `end`.
 */
export function progress(label: string, total: number, unit = "img"): Progress {
  const started = performance.now();
  const terminal = Deno.stderr.isTerminal();
  let last = 0;
  const rate = (done: number) => done / Math.max(1e-9, (performance.now() - started) / 1000);
  return {
    tick(done, note) {
      if (!terminal) return;
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const fraction = total > 0 ? done / total : 1;
      const width = 24;
      const filled = Math.round(fraction * width);
      const perSecond = rate(done);
      const eta = perSecond > 0 ? (total - done) / perSecond : 0;
      const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
      const text = `${label} ${bar} ${done}/${total} ${perSecond.toFixed(1)} ${unit}/s ETA ${
        eta.toFixed(0)
      }s${note ? ` ${note}` : ""}`;
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${text}`));
    },
    end(note) {
      const seconds = (performance.now() - started) / 1000;
      const summary = `${label}: ${total} ${unit} in ${seconds.toFixed(1)}s${
        note ? ` ${note}` : ""
      }`;
      if (terminal) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K`));
      info(summary);
    },
  };
}
