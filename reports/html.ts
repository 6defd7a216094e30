/**
 * Escaping for the three places a string from a run record can reach in a report page: element
 * text, a quoted attribute value, and a URL in `href`. Also the Content-Security-Policy hash of
 * an inline script or style.
 *
 * @module
 */
import { createHash } from "node:crypto";

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/**
 * Escapes any value for HTML element text or a double- or single-quoted attribute value.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * console.assert(escapeHtml('<img src=x onerror="a()">') === "&lt;img src=x onerror=&quot;a()&quot;&gt;");
 * ```
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => HTML_ESCAPES[c]);
}

/**
 * A relative link (a file of the site) for an `href`, escaped for a quoted attribute. Anything
 * with a scheme (`javascript:`, `data:`, `http:` ...), a leading slash or `//`, a backslash, a
 * `..` segment or a control character is refused with a `TypeError`: report pages link only to
 * their own files.
 *
 * @example
 * ```ts
 * import { relativeHref } from "./html.ts";
 * console.assert(relativeHref("run-1.html") === "run-1.html");
 * ```
 */
export function relativeHref(path: string): string {
  const text = String(path);
  // deno-lint-ignore no-control-regex
  const unsafe = /^[a-z][a-z0-9+.-]*:|^[\/\\]|\\|[\u0000-\u001f\u007f]/i.test(text) ||
    text.split("/").some((segment) => segment === "..");
  if (unsafe || text.trim() !== text || text === "") {
    throw new TypeError(`report link refused: ${JSON.stringify(text)} is not a relative file path`);
  }
  return escapeHtml(encodeURI(text));
}

/**
 * The CSP source expression of an inline `<script>` or `<style>` body: `'sha256-<base64>'` of
 * its exact UTF-8 text.
 */
export function cspHash(inline: string): string {
  return `'sha256-${createHash("sha256").update(inline, "utf8").digest("base64")}'`;
}

/**
 * Serialises data for a `<script type="application/json">` block: `<` is written as `\u003c`
 * (so no `</script>` or `<!--` can close or change the block), and U+2028/U+2029 escaped.
 */
export function jsonForScript(data: unknown): string {
  return JSON.stringify(data).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(
    /\u2029/g,
    "\\u2029",
  );
}
