/**
 * `deno task train:demo [--epochs N] [--images N] [--out FILE]`: trains the demo model's fusion +
 * head on the generated grounding corpus (models/train/demo_model.ts) and writes the weights the
 * embedded demo uses (models/demo/nano-demo-head.safetensors by default). Every random choice is
 * seeded; onnxruntime's CPU kernels repeat on one machine (a short run is tested bit for bit).
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { writeSafetensors } from "../models/checkpoint/mod.ts";
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import { DEMO_TRAINING, trainDemoHead } from "../models/train/demo_model.ts";

const { values } = parseArgs({
  options: {
    epochs: { type: "string" },
    images: { type: "string" },
    out: { type: "string" },
    "held-out-shape": { type: "string" },
  },
  strict: true,
});
const settings = {
  ...DEMO_TRAINING,
  ...(values.epochs ? { epochs: Number(values.epochs) } : {}),
  ...(values.images ? { images: Number(values.images) } : {}),
  ...(values["held-out-shape"] ? { heldOutShape: values["held-out-shape"] } : {}),
};
const out = values.out ??
  fileURLToPath(new URL("../models/demo/nano-demo-head.safetensors", import.meta.url));
const tokenizer = await loadBertTokenizer(
  fileURLToPath(new URL("../models/text/bert-base-uncased-vocab.txt", import.meta.url)),
);
const started = performance.now();
const result = await trainDemoHead(tokenizer, settings, (line) => console.log(line));
await writeSafetensors(out, result.weights, {
  format: "glip-bench-demo-head",
  settings: JSON.stringify(settings),
  epoch_losses: JSON.stringify(result.epochLosses.map((l) => Number(l.toFixed(5)))),
});
console.log(
  `wrote ${out} (${result.weights.size} tensors) in ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s`,
);
