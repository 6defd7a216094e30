/**
 * The prompt-tuning train step on the WebGPU training runtime (lavapipe in CI): every node on
 * the GPU (a CPU fallback would be refused), and the loss and prompt-offset gradient equal to
 * onnxruntime-node's within float32 rounding.
 */
import * as ort from "onnxruntime-node";
import { presetArchitecture } from "../../models/glip/config.ts";
import { RandomWeights } from "../../models/glip/weights.ts";
import { buildPromptTuningStep, type LevelSizes } from "../../models/train/prompt_tuning_graph.ts";
import { onnxRuntime } from "../../models/train/runtime.ts";
import { batchNormalizers, imageStepTargets, lossFeeds } from "../../models/train/step_inputs.ts";
import { requestAdapter } from "../../engines/ort_web/engine.ts";
import { webgpuTrainingRuntime } from "../../engines/ort_web/training.ts";
import { assert, assertEquals } from "../assert.ts";
import { randomData } from "../autodiff/gradcheck.ts";

const { adapter, reason } = await requestAdapter();
if (!adapter) console.log(`WebGPU training test skipped: ${reason}`);

Deno.test({
  name: "the prompt-tuning step runs wholly on WebGPU and matches onnxruntime-node",
  ignore: !adapter,
  async fn() {
    const arch = presetArchitecture("nano");
    const T = arch.maxQueryLength, D = arch.bert.hiddenSize, C = arch.fpnChannels;
    const levels: LevelSizes = [[8, 8], [4, 4], [2, 2], [1, 1], [1, 1]];
    const model = buildPromptTuningStep(arch, new RandomWeights(2), levels).build().model;
    const step = imageStepTargets(arch, levels, [{ box: [8, 10, 40, 50], tokens: [1, 2] }]);
    const mask = new BigInt64Array(T).fill(1n, 0, 6);
    const feeds: Record<string, ort.Tensor> = {
      lang_hidden: new ort.Tensor("float32", randomData(T * D, 1), [1, T, D]),
      attention_mask: new ort.Tensor("int64", mask, [1, T]),
      prompt_offset: new ort.Tensor("float32", randomData(T * D, 2, [-0.1, 0.1]), [1, T, D]),
      ...lossFeeds(step, batchNormalizers([step.targets])),
    };
    levels.forEach(([h, w], i) => {
      feeds[`fpn_p${i + 3}`] = new ort.Tensor("float32", randomData(C * h * w, 10 + i), [
        1,
        C,
        h,
        w,
      ]);
    });
    const webgpu = webgpuTrainingRuntime();
    const gpu = await webgpu.create(model);
    const cpu = await onnxRuntime().create(model);
    try {
      assertEquals(webgpu.fallbacks, [], "no node on the CPU");
      const a = await cpu.run(feeds, ["loss", "grad_prompt_offset"]);
      const b = await gpu.run(feeds, ["loss", "grad_prompt_offset"]);
      const lossA = Number(a.loss.data[0]), lossB = Number(b.loss.data[0]);
      assert(Math.abs(lossA - lossB) <= 1e-5 * Math.abs(lossA), `loss ${lossA} vs ${lossB}`);
      const ga = a.grad_prompt_offset.data as Float32Array;
      const gb = b.grad_prompt_offset.data as Float32Array;
      let scale = 0, diff = 0;
      for (let i = 0; i < ga.length; i++) {
        scale = Math.max(scale, Math.abs(ga[i]));
        diff = Math.max(diff, Math.abs(ga[i] - gb[i]));
      }
      assert(scale > 0 && diff <= 1e-4 * scale, `gradient differs by ${diff} (scale ${scale})`);
    } finally {
      await gpu.release();
      await cpu.release();
    }
  },
});
