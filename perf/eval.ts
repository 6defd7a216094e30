/**
 * `deno task perf:eval`: times our COCO and LVIS evaluation at full benchmark scale on
 * deterministic synthetic data (COCO val: 5000 images, 80 categories, ~7.3 GT and 100
 * detections per image; LVIS: 5000 images, 1203 categories, ~12 GT and 300 detections per
 * image), whole process including JSON parsing, and prints seconds, peak memory and the ratio to
 * the reference tools' times measured on this kind of machine (shared/oracles/README.md).
 *
 * Options: --only coco|lvis
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const { values } = parseArgs({ options: { only: { type: "string" } }, strict: true });

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(kind: "coco" | "lvis") {
  const random = prng(kind === "coco" ? 1 : 2);
  const images = 5000;
  const categories = kind === "coco" ? 80 : 1203;
  const gtPerImage = kind === "coco" ? 7.3 : 12.3;
  const dtPerImage = kind === "coco" ? 100 : 300;
  const gt = { images: [] as unknown[], annotations: [] as unknown[], categories: [] as unknown[] };
  const dt: unknown[] = [];
  for (let c = 1; c <= categories; c++) {
    gt.categories.push({
      id: c,
      name: `cat${c}`,
      ...(kind === "lvis" ? { frequency: ["r", "c", "f"][c % 3] } : {}),
    });
  }
  let annId = 1;
  for (let i = 1; i <= images; i++) {
    const present = new Set<number>();
    const boxes: [number, number, number, number, number][] = [];
    const count = Math.max(0, Math.round(gtPerImage + (random() - 0.5) * 6));
    for (let a = 0; a < count; a++) {
      const cat = 1 + Math.floor(random() * (kind === "lvis" ? 40 : categories)) +
        (kind === "lvis" ? (i % 30) * 40 : 0);
      const w = 8 + random() * 200, h = 8 + random() * 200, x = random() * 400, y = random() * 300;
      boxes.push([x, y, w, h, Math.min(cat, categories)]);
      present.add(Math.min(cat, categories));
      gt.annotations.push({
        id: annId++,
        image_id: i,
        category_id: Math.min(cat, categories),
        bbox: [x, y, w, h],
        area: w * h,
        iscrowd: 0,
      });
    }
    const negatives = Array.from({ length: 5 }, () => 1 + Math.floor(random() * categories)).filter(
      (c) => !present.has(c),
    );
    gt.images.push({
      id: i,
      width: 640,
      height: 480,
      file_name: `${i}.jpg`,
      ...(kind === "lvis" ? { neg_category_ids: negatives, not_exhaustive_category_ids: [] } : {}),
    });
    for (let d = 0; d < dtPerImage; d++) {
      const base = boxes.length && random() < 0.5
        ? boxes[Math.floor(random() * boxes.length)]
        : null;
      const jitter = () => (random() - 0.5) * 20;
      const bbox = base
        ? [
          base[0] + jitter(),
          base[1] + jitter(),
          Math.max(1, base[2] + jitter()),
          Math.max(1, base[3] + jitter()),
        ]
        : [random() * 400, random() * 300, 8 + random() * 200, 8 + random() * 200];
      const category = base && random() < 0.8
        ? base[4]
        : (negatives.length && random() < 0.5
          ? negatives[0]
          : 1 + Math.floor(random() * categories));
      dt.push({
        image_id: i,
        category_id: category,
        bbox: bbox.map((v) => Math.round(v * 100) / 100),
        score: Math.round(random() * 1000) / 1000,
      });
    }
  }
  return { gt, dt };
}

const REFERENCE = {
  coco: { pycocotools: 63, faster_coco_eval: 10.8, target: 3, memoryTargetGB: 1 },
  lvis: { "lvis-api": 199, faster_coco_eval: 93, target: 20, memoryTargetGB: 2.5 },
};

const dir = await Deno.makeTempDir({ prefix: "perf-eval-" });
const cli = fileURLToPath(new URL("../cli/main.ts", import.meta.url));
for (const kind of ["coco", "lvis"] as const) {
  if (values.only && values.only !== kind) continue;
  const { gt, dt } = generate(kind);
  const gtFile = join(dir, `${kind}.gt.json`);
  const dtFile = join(dir, `${kind}.dt.json`);
  await Deno.writeTextFile(gtFile, JSON.stringify(gt));
  await Deno.writeTextFile(dtFile, JSON.stringify(dt));
  const args = [
    "run",
    "-A",
    "--quiet",
    "--v8-flags=--max-old-space-size=8192",
    cli,
    "eval",
    kind,
    "--gt",
    gtFile,
    "--dt",
    dtFile,
    "--json",
  ];
  if (kind === "lvis") args.push("--max-dets", "300");
  const started = performance.now();
  const child = new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", Deno.execPath(), ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await child.output();
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(output.stderr).trim().split("\n");
  const peakKb = Number(stderr.at(-1));
  if (!output.success) {
    console.log(`${kind}: evaluation failed: ${stderr.join("\n")}`);
    continue;
  }
  const reference = REFERENCE[kind];
  const ratios = Object.entries(reference).filter(([k]) =>
    !["target", "memoryTargetGB"].includes(k)
  ).map(([tool, s]) => `${(s as number / seconds).toFixed(1)}x faster than ${tool} (${s} s)`);
  console.log(
    `${kind}: ${(dt.length / 1e6).toFixed(2)}M detections, ${gt.annotations.length} GT: ${
      seconds.toFixed(2)
    } s, peak ${
      (peakKb / 2 ** 20).toFixed(2)
    } GiB (targets: ${reference.target} s, ${reference.memoryTargetGB} GB); ${ratios.join(", ")}`,
  );
}
if (!Deno.env.get("KEEP")) await Deno.remove(dir, { recursive: true });
else console.log(dir);
