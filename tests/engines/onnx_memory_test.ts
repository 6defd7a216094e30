/**
 * The onnx engine's memory settings change how onnxruntime allocates, never what it computes.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import {
  ONNX_MEMORY_PROFILES,
  onnxEngineFactory,
  type OnnxEngineOptions,
  onnxMemorySettings,
} from "../../engines/onnx_node/engine.ts";
import { nanoBundle } from "../../benchmarks/models.ts";
import type { HeadOutput } from "../../engines/engine.ts";

const bundle = await nanoBundle(0);

/** One text + image + head pass of the nano model with the given options, run twice. */
async function headOutputs(options: OnnxEngineOptions): Promise<HeadOutput[]> {
  const engine = await onnxEngineFactory.create(bundle, { threads: 1, ...options });
  try {
    const L = bundle.manifest.maxQueryLength;
    const ids = new Int32Array(L);
    ids.set([101, 4937, 1012, 3899, 102]);
    const mask = Int32Array.from(ids, (v) => (v ? 1 : 0));
    const image = {
      data: Float32Array.from({ length: 3 * 64 * 96 }, (_, i) => Math.sin(i * 0.01)),
      height: 64,
      width: 96,
    };
    const outputs = [];
    for (let run = 0; run < 2; run++) {
      const text = await engine.encodeText({ inputIds: ids, attentionMask: mask });
      outputs.push(await engine.runHead(await engine.encodeImage(image), text));
    }
    return outputs;
  } finally {
    await engine.dispose();
  }
}

Deno.test("onnx: every memory setting gives bit-identical head outputs, on the first and a later run", async () => {
  const reference = await headOutputs({ memory: "arena" });
  const allOff = { cpuArena: false, memoryPattern: false };
  for (
    const memory of [
      "lean",
      "no-arena",
      { text: allOff, image: allOff, head: allOff },
    ] as const
  ) {
    const outputs = await headOutputs({ memory });
    for (let run = 0; run < 2; run++) {
      outputs[run].levels.forEach((level, l) => {
        const expected = reference[run].levels[l];
        assertEquals(level.bboxRegression, expected.bboxRegression, `run ${run} level ${l}`);
        assertEquals(level.centerness, expected.centerness, `run ${run} level ${l}`);
        assertEquals(level.tokenLogits, expected.tokenLogits, `run ${run} level ${l}`);
      });
    }
  }
});

Deno.test("onnxMemorySettings(): lean by default, the arena kept and the memory pattern off", () => {
  const lean = onnxMemorySettings();
  assertEquals(lean, ONNX_MEMORY_PROFILES.lean);
  for (const graph of ["text", "image", "head"] as const) {
    assertEquals(lean[graph], { cpuArena: true, memoryPattern: false }, graph);
  }
  assertEquals(onnxMemorySettings("no-arena").image, { cpuArena: false, memoryPattern: true });
  assertEquals(onnxMemorySettings("arena").head, { cpuArena: true, memoryPattern: true });
});

Deno.test("onnxMemorySettings() refuses an unknown profile and lists the known ones", () => {
  assertThrows(
    () => onnxMemorySettings("small" as "lean"),
    RangeError,
    "unknown memory profile 'small' (lean, no-arena, arena)",
  );
});
