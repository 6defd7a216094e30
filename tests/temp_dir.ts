/**
 * Temporary folders for tests. Each one is removed, with everything in it, when the test module
 * that made it ends, whether its tests passed or failed, so a test run leaves nothing behind.
 * Folders shared by several tests of a module (a bundle exported once) live until the module ends.
 *
 * @module
 */

const made: string[] = [];

/** Removes every folder this module made; runs when the test module unloads. */
function removeTestDirs(): void {
  for (const dir of made.splice(0)) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

/** Options of {@linkcode makeTestDir}. */
export interface TestDirOptions {
  /**
   * Start of the folder's name, to tell which test made it.
   * @default {"glip-test-"}
   */
  prefix?: string;
}

/**
 * Makes a fresh folder in the temp folder (`TMPDIR`) that is removed when the test module ends;
 * a test may remove it earlier itself. Takes the options `Deno.makeTempDir` takes for a name.
 */
export async function makeTestDir(options: TestDirOptions = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: options.prefix ?? "glip-test-" });
  if (made.length === 0) globalThis.addEventListener("unload", removeTestDirs, { once: true });
  made.push(dir);
  return dir;
}

/**
 * Runs `fn` with a fresh temporary folder and removes the folder when `fn` ends, pass or fail:
 * for tests that want their files gone before the next test starts (large outputs).
 */
export async function withTestDir(
  fn: (dir: string) => Promise<void>,
  options: TestDirOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: options.prefix ?? "glip-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
