/**
 * The package's public face, as a specification: what `mod.ts` and the other entry points of
 * deno.json's `exports` offer, read from `deno doc --json` (where each export is declared, and
 * its JSDoc).
 *
 * - Every export comes from a module of the face, listed below by subject; training, autodiff,
 *   graph building and the CLI stay importable by path but are never exported.
 * - Every export is documented, every entry point has a module doc with an example, and the main
 *   entry points each show an example.
 * - The sub-exports (`./engines`, `./metrics`, ...) are parts of `mod.ts`, not other APIs.
 *
 * `deno task doc:lint` checks the members (fields, methods, referenced types) in depth.
 */
import { assert, assertEquals } from "./assert.ts";

const ROOT = new URL("../", import.meta.url);

/** Modules whose exports make the package's face, by the subject a user comes for. */
const PUBLIC_MODULES: Record<string, readonly string[]> = {
  "run a benchmark: run, resume, shards, merge, reproduce": [
    "benchmarks/bench_run.ts",
    "benchmarks/adaptation.ts",
    "benchmarks/runner.ts",
    "benchmarks/merge.ts",
    "benchmarks/shard.ts",
    "benchmarks/reproduce.ts",
    "benchmarks/run_fingerprint.ts",
    "benchmarks/run_lock.ts",
  ],
  "run records and reports": [
    "benchmarks/run_record.ts",
    "benchmarks/parity_record.ts",
    "reports/site.ts",
  ],
  "engines and their contract": [
    "engines/engine.ts",
    "engines/onnx_node/engine.ts",
    "engines/ort_web/engine.ts",
    "engines/ort_web/op_size_audit.ts",
    "engines/parity_tolerance.ts",
    "engines/auto.ts",
    "engines/conformance.ts",
    "engines/parity.ts",
    "models/engine_types.ts",
  ],
  "metrics identical to the reference tools": [
    "benchmarks/metrics/coco.ts",
    "benchmarks/metrics/lvis.ts",
    "benchmarks/metrics/flickr30k.ts",
  ],
  "datasets and samplers": [
    "datasets/coco_json.ts",
    "datasets/odinw.ts",
    "datasets/data_root.ts",
    "datasets/demo/generate.ts",
    "datasets/dataset.ts",
    "datasets/fewshot.ts",
    "datasets/python_random.ts",
    "datasets/download.ts",
    "datasets/extract.ts",
    "datasets/sources.ts",
  ],
  "prompts, images and post-processing": [
    "models/text/tokenizer.ts",
    "models/text/prompt.ts",
    "models/image/decode.ts",
    "models/image/resize.ts",
    "models/image/preprocess.ts",
    "models/post/atss.ts",
  ],
  "export: checkpoints to model bundles": [
    "models/bundle.ts",
    "models/bundle_files.ts",
    "models/glip/config.ts",
    "models/glip/export.ts",
    "models/glip/weights.ts",
    "models/checkpoint/mod.ts",
    "models/checkpoint/pth.ts",
  ],
  "plugins, registries and errors": [
    "core/plugin_api.ts",
    "core/registries.ts",
    "core/registry.ts",
    "benchmarks/suite.ts",
    "core/errors.ts",
  ],
};

/** Internals: importable by path, never part of the face. */
const INTERNALS: readonly { path: string; what: string }[] = [
  { path: "models/train/", what: "training (prompt and full tuning, losses, targets, optimisers)" },
  { path: "models/autodiff/", what: "automatic differentiation" },
  { path: "models/graph/", what: "the ONNX graph builder" },
  { path: "models/glip/graphs.ts", what: "GLIP's graph builders" },
  { path: "models/glip/bundle_weights.ts", what: "tuned-bundle writing" },
  { path: "benchmarks/native_trainer.ts", what: "the native trainers" },
  { path: "benchmarks/external_trainer.ts", what: "external trainer commands" },
  { path: "benchmarks/bench_adapt.ts", what: "the adapting protocols' loop" },
  { path: "cli/", what: "the command line" },
];

/** The main entry points, each of which must show an example in its JSDoc. */
const MAIN_ENTRY_POINTS = [
  "runBenchmark",
  "mergeShards",
  "reproduceRun",
  "buildSite",
  "checkConformance",
  "evaluateCoco",
  "evaluateLvis",
  "sampleFewShot",
  "buildPrompt",
  "exportBundle",
] as const;

interface JsDoc {
  doc?: string;
  tags?: { kind: string }[];
}

/** Where a declaration is. */
interface DocLocation {
  filename: string;
  line: number;
}

/** One declaration of an export: where it is and its JSDoc. */
interface Declaration {
  location: DocLocation;
  jsDoc?: JsDoc;
}

/** One exported symbol, its declarations resolved (not the re-export that names it). */
interface DocSymbol {
  name: string;
  declarations: Declaration[];
}

/** One entry point's module doc and exports. */
interface DocModule {
  moduleDoc?: JsDoc;
  symbols: DocSymbol[];
}

/** `deno doc --json` output: a symbol seen already through another entry point is a reference. */
interface RawDeclaration extends Declaration {
  kind: string;
  def?: { target?: DocLocation };
}

/** The entry points of deno.json's `exports`, as paths relative to the root. */
async function entryPoints(): Promise<Record<string, string>> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  return Object.fromEntries(
    Object.entries(config.exports as Record<string, string>).map((
      [name, path],
    ) => [name, path.replace(/^\.\//, "")]),
  );
}

/** `deno doc --json` of the entry points, by path relative to the root. */
async function documentation(paths: string[]): Promise<Record<string, DocModule>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...paths],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert(output.success, `deno doc --json failed:\n${stderr}`);
  const parsed = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    nodes: Record<
      string,
      { module_doc?: JsDoc; symbols: { name: string; declarations: RawDeclaration[] }[] }
    >;
  };
  const key = (location: DocLocation) => `${location.filename}:${location.line}`;
  const declared = new Map<string, Declaration>();
  for (const module of Object.values(parsed.nodes)) {
    for (const symbol of module.symbols) {
      for (const declaration of symbol.declarations) {
        if (declaration.kind !== "reference") declared.set(key(declaration.location), declaration);
      }
    }
  }
  const resolve = (name: string, declaration: RawDeclaration): Declaration => {
    const target = declaration.def?.target;
    if (declaration.kind !== "reference") return declaration;
    const found = target && declared.get(key(target));
    assert(
      found,
      `deno doc: ${name} refers to ${target && key(target)}, which it did not describe`,
    );
    return found;
  };
  return Object.fromEntries(
    Object.entries(parsed.nodes).map(([url, module]) => [url.slice(ROOT.href.length), {
      moduleDoc: module.module_doc,
      symbols: module.symbols.map((symbol) => ({
        name: symbol.name,
        declarations: symbol.declarations.map((d) => resolve(symbol.name, d)),
      })),
    }]),
  );
}

/** A declaration's module, relative to the root. */
function moduleOf(filename: string): string {
  return filename.startsWith(ROOT.href) ? filename.slice(ROOT.href.length) : filename;
}

/**
 * What is wrong with the exports of one entry point against the face: each export declared in
 * an internal module or in a module the face does not list, in words.
 */
function faceViolations(entry: string, symbols: DocSymbol[]): string[] {
  const publicModules = new Set(Object.values(PUBLIC_MODULES).flat());
  const problems: string[] = [];
  for (const symbol of symbols) {
    for (const declaration of symbol.declarations) {
      const module = moduleOf(declaration.location.filename);
      const internal = INTERNALS.find((i) => module.startsWith(i.path));
      if (internal) {
        problems.push(
          `${entry} exports ${symbol.name} from ${module}: ${internal.what} is internal (import it by path)`,
        );
      } else if (!publicModules.has(module)) {
        problems.push(
          `${entry} exports ${symbol.name} from ${module}, a module not in the public face ` +
            `(add it to PUBLIC_MODULES under its subject if it belongs there)`,
        );
      }
    }
  }
  return problems;
}

function hasExample(jsDoc: JsDoc | undefined): boolean {
  return jsDoc?.tags?.some((tag) => tag.kind === "example") ?? false;
}

const entries = await entryPoints();
const docs = await documentation(Object.values(entries));

Deno.test("the public face's module list names no internal module", () => {
  const listed = Object.values(PUBLIC_MODULES).flat();
  const clashes = listed.filter((module) => INTERNALS.some((i) => module.startsWith(i.path)));
  assertEquals(clashes, []);
  assertEquals(new Set(listed).size, listed.length, "a module is listed under two subjects");
});

Deno.test("faceViolations() names exports of internal and of unlisted modules", () => {
  const at = (path: string) => ({ location: { filename: new URL(path, ROOT).href, line: 1 } });
  const problems = faceViolations("mod.ts", [
    { name: "giouLossTerms", declarations: [at("models/train/detection_loss.ts")] },
    { name: "somethingNew", declarations: [at("benchmarks/leaderboard.ts")] },
    { name: "evaluateCoco", declarations: [at("benchmarks/metrics/coco.ts")] },
  ]);
  assertEquals(problems.length, 2, problems.join("\n"));
  assert(problems[0].includes("giouLossTerms") && problems[0].includes("internal"), problems[0]);
  assert(problems[1].includes("not in the public face"), problems[1]);
});

Deno.test("deno.json exports mod.ts and its sub-exports, each a module doc with an example", () => {
  assertEquals(entries["."], "mod.ts");
  for (const [name, path] of Object.entries(entries)) {
    const module = docs[path];
    assert(module, `${name}: deno doc found no module at ${path}`);
    const jsDoc = module.moduleDoc;
    assert(jsDoc?.doc?.trim(), `${name} (${path}): no @module JSDoc`);
    assert(hasExample(jsDoc), `${name} (${path}): its module doc has no @example`);
  }
});

Deno.test("deno task doc:lint and ok check every entry point", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const docLint: string = config.tasks["doc:lint"];
  const linted = docLint.replace(/^deno doc --lint\s+/, "").split(/\s+/);
  assertEquals(linted.sort(), Object.values(entries).sort());
  const ok: string = config.tasks.ok;
  for (const task of ["deno task doc:lint", "deno task publish:check"]) {
    assert(ok.includes(task), `deno task ok does not run ${task}`);
    assert(ok.indexOf(task) < ok.indexOf("deno task test"), `ok runs ${task} after the tests`);
  }
});

Deno.test("every export of every entry point comes from a module of the public face", () => {
  const problems = Object.values(entries).flatMap((path) =>
    faceViolations(path, docs[path].symbols)
  );
  assertEquals(problems, []);
});

Deno.test("every export of every entry point has JSDoc", () => {
  const undocumented = Object.values(entries).flatMap((path) =>
    docs[path].symbols.filter((symbol) =>
      !symbol.declarations.some((declaration) => declaration.jsDoc?.doc?.trim())
    ).map((symbol) => `${path}: ${symbol.name}`)
  );
  assertEquals(undocumented, []);
});

Deno.test("each sub-export is a part of mod.ts: the same symbols, from the same declarations", () => {
  const main = new Map(docs["mod.ts"].symbols.map((symbol) => [symbol.name, symbol]));
  const where = (symbol: DocSymbol) =>
    symbol.declarations.map((d) => `${moduleOf(d.location.filename)}:${d.location.line}`).sort()
      .join();
  const missing: string[] = [];
  for (const [name, path] of Object.entries(entries)) {
    if (name === ".") continue;
    for (const symbol of docs[path].symbols) {
      const inMain = main.get(symbol.name);
      if (!inMain || where(inMain) !== where(symbol)) missing.push(`${name}: ${symbol.name}`);
    }
  }
  assertEquals(missing, []);
});

Deno.test("the main entry points each show an example", () => {
  const main = new Map(docs["mod.ts"].symbols.map((symbol) => [symbol.name, symbol]));
  const without = MAIN_ENTRY_POINTS.filter((name) => {
    const symbol = main.get(name);
    return !symbol || !symbol.declarations.some((d) => hasExample(d.jsDoc));
  });
  assertEquals(without, []);
});
