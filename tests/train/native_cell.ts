/**
 * Runs one native-trainer cell of the demo as a user would: DemoColors, 3 shots, seed 3, at most
 * `epochs` epochs, with the given protocol.
 */
import { type CliResult, runCli } from "../cli_helpers.ts";

export function benchNativeCell(
  protocol: "few-shot" | "prompt-tuning",
  out: string,
  epochs: number,
  extra: string[] = [],
): Promise<CliResult> {
  return runCli([
    "bench",
    "odinw",
    "--demo",
    "--protocol",
    protocol,
    "--trainer",
    "native",
    "--tasks",
    "DemoColors",
    "--shots",
    "3",
    "--seeds",
    "3",
    "--epochs",
    String(epochs),
    "--out",
    out,
    "--no-report",
    ...extra,
  ]);
}
