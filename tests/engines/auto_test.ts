/**
 * The `auto` engine: the engine it picks works exactly as that engine (private fields included),
 * it prefers a hardware GPU over the CPU, and it never picks a software WebGPU adapter.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import {
  AUTO_CANDIDATES,
  autoEngineFactoryOver,
  softwareAdapterReason,
} from "../../engines/auto.ts";
import type { Engine, EngineFactory, FeatureHandle, HeadOutput } from "../../engines/engine.ts";
import { requestAdapter } from "../../engines/ort_web/engine.ts";
import type { ModelBundle } from "../../models/bundle.ts";

const handle = (kind: "text" | "image"): FeatureHandle => ({ kind, dispose() {} });
const emptyHead: HeadOutput = { tokenCount: 0, levels: [] };

/** An engine whose methods read a private field, as the WebGPU engine's runHeadReduced does. */
class PrivateFieldEngine implements Engine {
  readonly name = "private";
  readonly capabilities;
  #calls = 0;
  constructor(reduced: boolean) {
    this.capabilities = {
      dtypes: ["fp32" as const],
      deformConvForms: ["native" as const],
      deviceResidentFeatures: true,
      promptOffset: true,
      deviceReduction: reduced,
    };
  }
  encodeText() {
    this.#calls++;
    return Promise.resolve(handle("text"));
  }
  encodeImage() {
    this.#calls++;
    return Promise.resolve(handle("image"));
  }
  runHead() {
    this.#calls++;
    return Promise.resolve(emptyHead);
  }
  /** A prototype method that reads a private field: called with another `this`, it throws. */
  runHeadReduced(): Promise<HeadOutput> {
    this.#calls++;
    return Promise.resolve(emptyHead);
  }
  get calls(): number {
    return this.#calls;
  }
  describe() {
    return {
      engine: "private",
      executionProvider: "test",
      libraries: {},
      device: "test",
      dtype: "fp32" as const,
      deformConv: "native" as const,
    };
  }
  dispose() {
    return Promise.resolve();
  }
}

/** The same engine without device reduction: no runHeadReduced at all. */
function denseEngine(): Engine {
  const engine = new PrivateFieldEngine(false);
  Object.defineProperty(engine, "runHeadReduced", { value: undefined });
  return engine;
}

function factoryOf(engine: Engine, available = true): EngineFactory {
  return {
    name: engine.name,
    summary: "test",
    probe: () => Promise.resolve(available ? { available } : { available, reason: "not here" }),
    create: () => Promise.resolve(engine),
  };
}

const bundle = { dir: "/test/bundle" } as ModelBundle;

Deno.test("auto's engine reaches the chosen engine's private fields, runHeadReduced included", async () => {
  const inner = new PrivateFieldEngine(true);
  const engine = await autoEngineFactoryOver([
    { label: "gpu", load: () => Promise.resolve(factoryOf(inner)), options: {} },
  ]).create(bundle);
  await engine.encodeText({ inputIds: new Int32Array(1), attentionMask: new Int32Array(1) });
  await engine.encodeImage({ data: new Float32Array(1), height: 1, width: 1 });
  await engine.runHead(handle("image"), handle("text"));
  assert(engine.runHeadReduced, "the reduced head is offered when the chosen engine has it");
  await engine.runHeadReduced(handle("image"), handle("text"), { labelTokens: [], logitBound: 0 });
  assertEquals(inner.calls, 4);
  assertEquals(engine.capabilities.deviceReduction, true);
  assertEquals(engine.describe().selection, { chosen: "gpu", skipped: [] });
  await engine.dispose();
});

Deno.test("auto's engine has no runHeadReduced when the chosen engine has none", async () => {
  const engine = await autoEngineFactoryOver([
    {
      label: "cpu",
      load: () => Promise.resolve(factoryOf(denseEngine())),
      options: {},
    },
  ]).create(bundle);
  assertEquals(engine.runHeadReduced, undefined);
});

Deno.test("auto records each skipped engine with its reason and takes the next one", async () => {
  const engine = await autoEngineFactoryOver([
    {
      label: "a",
      load: () => Promise.resolve(factoryOf(denseEngine())),
      options: {},
      when: () => Promise.resolve("no A here"),
    },
    {
      label: "b",
      load: () => Promise.resolve(factoryOf(denseEngine(), false)),
      options: {},
    },
    {
      label: "c",
      load: () => Promise.resolve(factoryOf(denseEngine())),
      options: {},
    },
  ]).create(bundle);
  assertEquals(engine.describe().selection, {
    chosen: "c",
    skipped: [{ engine: "a", reason: "no A here" }, { engine: "b", reason: "not here" }],
  });
});

Deno.test("auto tries CUDA, then a WebGPU adapter, before the CPU engines", () => {
  assertEquals(AUTO_CANDIDATES.map((c) => c.label), [
    "onnx (cuda)",
    "webgpu",
    "onnx (cpu)",
    "wasm",
  ]);
});

Deno.test("software adapters are recognised: lavapipe's description or the fallback flag", () => {
  assert(
    softwareAdapterReason({ description: "llvmpipe (LLVM 15.0.6, 256 bits)", vendor: "65541" }),
  );
  assert(softwareAdapterReason({ description: "", isFallbackAdapter: true }));
  assert(softwareAdapterReason({ description: "SwiftShader Device (Subzero)" }));
  assertEquals(
    softwareAdapterReason({
      description: "NVIDIA H200",
      vendor: "nvidia",
      isFallbackAdapter: false,
    }),
    undefined,
  );
  assertEquals(softwareAdapterReason({ vendor: "apple", architecture: "metal-3" }), undefined);
});

Deno.test("auto never picks the WebGPU adapter here when it is a software one", async () => {
  const webgpu = AUTO_CANDIDATES.find((c) => c.label === "webgpu")!;
  const skip = await webgpu.when!();
  const { adapter } = await requestAdapter();
  const software = adapter && softwareAdapterReason(adapter.info);
  if (!adapter) assert(skip, "no adapter: webgpu is skipped with a reason");
  else if (software) assertStringIncludes(skip ?? "", "never picks a software GPU");
  else assertEquals(skip, undefined, `a hardware adapter (${adapter.info.description}) is tried`);
});
