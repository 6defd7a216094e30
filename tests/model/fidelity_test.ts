/**
 * The exported model equals the official GLIP code, tensor by tensor: tiny-fusion's checkpoint
 * goes through the YAML export path, then image.png through preprocessing, the three graphs on
 * onnxruntime-node and the ATSS post-processing; every stage is compared with what the official
 * PyTorch code computed (tests/fixtures/glip-reference/tiny-fusion).
 */
import { makeTestDir } from "../temp_dir.ts";
import { assert, assertEquals } from "../assert.ts";
import { FIXTURES, runCli } from "../cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { architectureFromGlipYaml } from "../../models/glip/config.ts";
import { exportBundle } from "../../models/glip/export.ts";
import { CheckpointWeights } from "../../models/glip/weights.ts";
import { readCheckpoint } from "../../models/checkpoint/mod.ts";
import { decodeImage } from "../../models/image/decode.ts";
import { preprocessImage } from "../../models/image/preprocess.ts";
import { readNpyFile, toFloat32, writeNpyFile } from "../../models/npy.ts";
import {
  compareWithReference,
  detectionCuts,
  parsePositiveMap,
  traceBundle,
} from "../../models/trace.ts";

const REF = fileURLToPath(new URL("glip-reference/tiny-fusion/", FIXTURES));

async function exportTinyFusion(dir: string) {
  const architecture = architectureFromGlipYaml(
    await Deno.readTextFile(`${REF}config.yaml`),
    "config.yaml",
    JSON.parse(await Deno.readTextFile(`${REF}bert_config.json`)),
  );
  const checkpoint = await readCheckpoint(`${REF}model.pth`);
  const weights = await CheckpointWeights.load(checkpoint);
  checkpoint.close();
  return await exportBundle({
    architecture,
    configName: "yaml:config.yaml",
    weights,
    outDir: dir,
    source: { kind: "checkpoint", file: `${REF}model.pth` },
    trace: true,
  });
}

const dir = await makeTestDir({ prefix: "tiny-fusion-" });
const bundle = await exportTinyFusion(dir);
const image = await decodeImage(await Deno.readFile(`${REF}image.png`));
const preprocessed = preprocessImage(image, bundle.manifest.preprocess);
const inputs = {
  image: {
    data: preprocessed.input.data,
    shape: [1, 3, preprocessed.input.height, preprocessed.input.width],
  },
  inputIds: (await readNpyFile(`${REF}input_ids.npy`)).data as BigInt64Array,
  attentionMask: (await readNpyFile(`${REF}attention_mask.npy`)).data as BigInt64Array,
  positiveMap: parsePositiveMap(
    JSON.parse(await Deno.readTextFile(`${REF}positive_map.json`)),
    "positive_map.json",
  ),
  sizes: { resized: preprocessed.resizedSize, original: preprocessed.originalSize },
};

Deno.test("preprocessImage() reproduces input.npy from image.png (pins down the resize)", async () => {
  const reference = toFloat32(await readNpyFile(`${REF}input.npy`));
  assertEquals(preprocessed.input.data.length, reference.length);
  let maxAbs = 0;
  for (let i = 0; i < reference.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(reference[i] - preprocessed.input.data[i]));
  }
  assert(maxAbs <= 1e-4, `max abs error ${maxAbs}`);
});

for (const form of ["native", "decomposed"] as const) {
  Deno.test(`every stage of tiny-fusion matches the official tensors (${form} deformable conv)`, async () => {
    const traced = await traceBundle(bundle, inputs, { form });
    // today's strictness: 1e-4 of the tensor's scale plus 1e-5; scores within 1e-5 and boxes
    // within 1e-3 px, in the reference's exact order (no near-ties in this reference)
    const comparison = await compareWithReference(
      traced,
      REF,
      { scaled: 1e-4, atol: 1e-5, score: 1e-5, minIoU: 0.999 },
      detectionCuts(bundle.manifest.postprocess),
    );
    const bad = comparison.tensors.filter((row) => !row.ok).map((row) =>
      `${row.name}: max abs ${row.maxAbs}, scaled ${row.scaledError} ${row.note ?? ""}`
    );
    assertEquals(bad, []);
    const names = comparison.tensors.map((row) => row.name);
    for (
      const expected of [
        "lang_hidden",
        "swin_out3",
        "fpn_p7",
        "tower0_VLFuse_lang_hidden",
        "tower1_BertEncoderLayer_lang_hidden",
        "tower5_DyConv_visual_l4",
        "fused_text_hidden",
        "head_dot_product_logits_l0",
      ]
    ) assert(names.includes(expected), `${expected} was compared`);
    assertEquals(comparison.unreferenced, []);
    assertEquals(comparison.detections.map((row) => row.name), ["dets", "dets_th0"]);
    for (const row of comparison.detections) {
      assert(row.ok, `${row.name}: ${row.problems.join("; ")}`);
      assertEquals([row.ours, row.matched, row.atCut, row.reordered], [
        row.reference,
        row.reference,
        0,
        0,
      ]);
      assert(row.maxBoxDiff <= 1e-3, `${row.name}: boxes differ by ${row.maxBoxDiff} px`);
    }
  });
}

Deno.test("trace --compare passes the official tensors and exits 3 on a changed label, naming it", async () => {
  const work = await Deno.makeTempDir({ prefix: "trace-compare-" });
  try {
    const badReference = `${work}/reference`;
    await Deno.mkdir(badReference);
    for await (const entry of Deno.readDir(REF)) {
      if (entry.name.endsWith(".npy")) {
        await Deno.copyFile(`${REF}${entry.name}`, `${badReference}/${entry.name}`);
      }
    }
    const labels = await readNpyFile(`${REF}dets_sorted_labels.npy`);
    const changed = toFloat32(labels);
    changed[0] += 1;
    await writeNpyFile(`${badReference}/dets_sorted_labels.npy`, {
      dtype: "float32",
      shape: labels.shape,
      data: changed,
    });
    const trace = (reference: string) =>
      runCli([
        "trace",
        "--model",
        dir,
        "--image",
        `${REF}image.png`,
        "--input-ids",
        `${REF}input_ids.npy`,
        "--attention-mask",
        `${REF}attention_mask.npy`,
        "--positive-map",
        `${REF}positive_map.json`,
        "--out",
        `${work}/trace`,
        "--compare",
        reference,
      ]);
    const good = await trace(REF);
    assertEquals(good.code, 0, good.stderr);
    assert(good.stdout.includes("scaled err"), good.stdout);
    const bad = await trace(badReference);
    assertEquals(bad.code, 3, bad.stderr);
    assert(
      bad.stdout.includes(`dets: missing: label ${changed[0]}`),
      `the changed label is named:\n${bad.stdout}`,
    );
    assert(bad.stderr.includes("1 of 2 detection sets match"), bad.stderr);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

const { requestAdapter, webgpuEngineFactory } = await import("../../engines/ort_web/engine.ts");
const { adapter } = await requestAdapter();

Deno.test({
  name: "tiny-fusion on the webgpu engine matches the official head tensors (1e-3) and detections",
  ignore: !adapter,
  async fn() {
    const { postprocessAtss } = await import("../../models/post/atss.ts");
    const engine = await webgpuEngineFactory.create(bundle);
    try {
      const text = await engine.encodeText({
        inputIds: Int32Array.from(inputs.inputIds, (v) => Number(v)),
        attentionMask: Int32Array.from(inputs.attentionMask, (v) => Number(v)),
      });
      const image = await engine.encodeImage(preprocessed.input);
      const head = await engine.runHead(image, text);
      for (let l = 0; l < 5; l++) {
        for (
          const [name, ours] of [["head_bbox_reg", head.levels[l].bboxRegression], [
            "head_centerness",
            head.levels[l].centerness,
          ], ["head_dot_product_logits", head.levels[l].tokenLogits!]] as const
        ) {
          const reference = toFloat32(await readNpyFile(`${REF}${name}_l${l}.npy`));
          let maxAbs = 0;
          for (let i = 0; i < reference.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(reference[i] - ours[i]));
          }
          assert(maxAbs <= 1e-3, `${name}_l${l}: max abs error ${maxAbs}`);
        }
      }
      const dets = postprocessAtss(
        head,
        inputs.positiveMap,
        bundle.manifest.postprocess,
        inputs.sizes,
      );
      const reference = toFloat32(await readNpyFile(`${REF}dets_sorted_scores.npy`));
      const scores = [...dets.scores].sort((a, b) => b - a);
      assertEquals(scores.length, reference.length);
      for (let i = 0; i < scores.length; i++) {
        assert(Math.abs(scores[i] - reference[i]) <= 1e-4, `score ${i}`);
      }
    } finally {
      await engine.dispose();
    }
  },
});
