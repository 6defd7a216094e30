/**
 * Opens a page in real headless Chromium (Debian's package) and reads the page's self-check
 * (script errors, network requests, blank canvases) from the rendered DOM; keeps a screenshot.
 */
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Whether Chromium is installed (scripts/setup.sh installs it). */
export function chromiumAvailable(): boolean {
  try {
    Deno.statSync(CHROMIUM);
    return true;
  } catch {
    return false;
  }
}

/** What the page's self-check found. */
export interface SelfCheck {
  errors: string[];
  resources: string[];
  canvases: number;
  blankCanvases: string[];
  renderMs: number;
  /** Content-Security-Policy violations the page saw (blocked scripts, styles, loads). */
  cspViolations: string[];
}

async function chromium(args: string[]): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "chromium-" });
  const output = await new Deno.Command(CHROMIUM, {
    args: [...FLAGS, `--user-data-dir=${profile}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(profile, { recursive: true }).catch(() => {});
  if (!output.success) {
    throw new Error(`chromium failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** Renders a file, returns its self-check and the rendered DOM; writes a screenshot if asked. */
export async function renderPage(
  file: string,
  screenshot?: string,
): Promise<{ check: SelfCheck; dom: string }> {
  const url = `file://${file}`;
  const dom = await chromium(["--virtual-time-budget=10000", "--dump-dom", url]);
  const match = /<pre id="selfcheck" hidden="">([^<]*)<\/pre>/.exec(dom);
  if (!match) {
    throw new Error(`no self-check in the rendered page ${file} (did the page script run?)`);
  }
  const check = JSON.parse(match[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as SelfCheck;
  if (screenshot === undefined) return { check, dom };
  await chromium([
    "--window-size=1280,2200",
    "--hide-scrollbars",
    `--screenshot=${screenshot}`,
    url,
  ]);
  return { check, dom };
}
