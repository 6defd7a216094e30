/**
 * A synthetic ODinW-shaped demo set: small tasks in GLIP's ODinW layout
 * (`odinw/<Task>/{train,valid,test}/annotations_without_background.json` and PNG images),
 * rendered deterministically from a seed. The embedded `deno task bench odinw` demo and the
 * tests run on it; each image also carries a caption naming its objects by colour and shape.
 *
 * @module
 */
import { encode as encodePng } from "fast-png";
import { join } from "node:path";
import type { OdinwTask } from "../odinw.ts";

type Shape = "circle" | "square" | "triangle";
type Colour = "red" | "green" | "blue";

const COLOURS: Record<Colour, [number, number, number]> = {
  red: [210, 40, 40],
  green: [40, 170, 60],
  blue: [40, 70, 210],
};

/** A demo task: which attribute decides the category. */
interface DemoTaskSpec {
  name: string;
  by: "shape" | "colour";
  categories: string[];
}

const DEMO_TASKS: DemoTaskSpec[] = [
  { name: "DemoShapes", by: "shape", categories: ["circle", "square", "triangle"] },
  { name: "DemoColors", by: "colour", categories: ["red", "green", "blue"] },
];

const SPLITS = [
  { split: "train", folder: "train", count: 12 },
  { split: "val", folder: "valid", count: 8 },
  { split: "test", folder: "test", count: 8 },
];

const WIDTH = 224;
const HEIGHT = 160;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function inside(shape: Shape, x: number, y: number, cx: number, cy: number, r: number): boolean {
  if (shape === "square") return Math.abs(x - cx) <= r && Math.abs(y - cy) <= r;
  if (shape === "circle") return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
  // triangle pointing up, base at cy + r, apex at cy - r
  if (y < cy - r || y > cy + r) return false;
  const halfWidth = ((y - (cy - r)) / (2 * r)) * r;
  return Math.abs(x - cx) <= halfWidth;
}

/** The demo tasks as ODinW manifest entries (the benchmark runner treats them alike). */
export function demoTasks(): OdinwTask[] {
  return DEMO_TASKS.map((spec) => ({
    name: spec.name,
    config: `demo/${spec.name}`,
    odinw13: true,
    zeroShotSplit: "val",
    splits: Object.fromEntries(SPLITS.map(({ split, folder }) => [split, {
      annFile: `odinw/${spec.name}/${folder}/annotations_without_background.json`,
      imgDir: `odinw/${spec.name}/${folder}`,
    }])),
    fewShotFiles: {
      train: `odinw/${spec.name}/train/fewshot_train_shot{shots}_seed{seed}.json`,
      val: `odinw/${spec.name}/valid/fewshot_val_shot{shots}_seed{seed}.json`,
    },
    categories: spec.categories.map((name, i) => ({ id: i + 1, name })),
    engineered: {
      names: spec.categories.map((name) => (spec.by === "colour" ? `${name} object` : name)),
    },
  }));
}

/** Demo image size (width x height). */
export const DEMO_IMAGE_SIZE = { width: WIDTH, height: HEIGHT } as const;

/** mulberry32 for the other demo generators. */
export { prng as demoRandom };

/**
 * Renders one image with 1-4 non-overlapping objects on a noisy grey background; returns its
 * pixels (RGB), the objects' COCO boxes and a caption naming them by colour and shape.
 */
export function renderImage(
  random: () => number,
  spec: Pick<DemoTaskSpec, "by" | "categories"> = { by: "shape", categories: [] },
) {
  const rgb = new Uint8Array(WIDTH * HEIGHT * 3);
  const base = 200 + Math.floor(random() * 40);
  for (let i = 0; i < WIDTH * HEIGHT; i++) {
    const noise = Math.floor(random() * 16) - 8;
    rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = Math.max(0, Math.min(255, base + noise));
  }
  const shapes: Shape[] = ["circle", "square", "triangle"];
  const colours: Colour[] = ["red", "green", "blue"];
  const objects: { shape: Shape; colour: Colour; box: [number, number, number, number] }[] = [];
  const count = 1 + Math.floor(random() * 4);
  for (let attempt = 0; objects.length < count && attempt < 40; attempt++) {
    const r = 10 + Math.floor(random() * 22);
    const cx = r + Math.floor(random() * (WIDTH - 2 * r));
    const cy = r + Math.floor(random() * (HEIGHT - 2 * r));
    const box: [number, number, number, number] = [cx - r, cy - r, 2 * r + 1, 2 * r + 1];
    const overlaps = objects.some((o) =>
      box[0] < o.box[0] + o.box[2] && o.box[0] < box[0] + box[2] && box[1] < o.box[1] + o.box[3] &&
      o.box[1] < box[1] + box[3]
    );
    if (overlaps) continue;
    const shape = shapes[Math.floor(random() * 3)];
    const colour = colours[Math.floor(random() * 3)];
    const [cr, cg, cb] = COLOURS[colour];
    for (let y = cy - r; y <= cy + r; y++) {
      for (let x = cx - r; x <= cx + r; x++) {
        if (!inside(shape, x, y, cx, cy, r)) continue;
        const p = (y * WIDTH + x) * 3;
        rgb[p] = cr;
        rgb[p + 1] = cg;
        rgb[p + 2] = cb;
      }
    }
    objects.push({ shape, colour, box });
  }
  const caption = objects.map((o) => `a ${o.colour} ${o.shape}`).join(" and ");
  const categoryOf = (o: (typeof objects)[number]) =>
    spec.categories.indexOf(spec.by === "shape" ? o.shape : o.colour) + 1;
  return { rgb, caption, objects: objects.map((o) => ({ ...o, category: categoryOf(o) })) };
}

/** What {@link generateDemoSet} wrote. */
export interface DemoSet {
  /** The data root the set was written under. */
  root: string;
  /** The demo tasks, as ODinW tasks. */
  tasks: OdinwTask[];
}

/**
 * Writes the demo set under `root` (GLIP's layout). The same seed gives the same bytes; a set
 * already present with the same seed is reused.
 */
export async function generateDemoSet(
  root: string,
  options: { seed?: number } = {},
): Promise<DemoSet> {
  const seed = options.seed ?? 0;
  const stamp = join(root, "odinw", `.demo-seed-${seed}`);
  try {
    await Deno.stat(stamp);
    return { root, tasks: demoTasks() };
  } catch {
    // not generated yet
  }
  let imageId = 1;
  let annotationId = 1;
  for (const [t, spec] of DEMO_TASKS.entries()) {
    for (const [s, { folder, count }] of SPLITS.entries()) {
      const dir = join(root, "odinw", spec.name, folder);
      await Deno.mkdir(dir, { recursive: true });
      const random = prng(seed * 1000003 + t * 101 + s * 7 + 1);
      const images = [];
      const annotations = [];
      for (let i = 0; i < count; i++) {
        const { rgb, caption, objects } = renderImage(random, spec);
        const fileName = `${folder}_${String(i).padStart(3, "0")}.png`;
        await Deno.writeFile(
          join(dir, fileName),
          encodePng({ width: WIDTH, height: HEIGHT, data: rgb, channels: 3, depth: 8 }),
        );
        images.push({ id: imageId, file_name: fileName, width: WIDTH, height: HEIGHT, caption });
        for (const object of objects) {
          annotations.push({
            id: annotationId++,
            image_id: imageId,
            category_id: object.category,
            bbox: object.box,
            area: object.box[2] * object.box[3],
            iscrowd: 0,
          });
        }
        imageId++;
      }
      const categories = spec.categories.map((name, i) => ({
        id: i + 1,
        name,
        supercategory: spec.by,
      }));
      await Deno.writeTextFile(
        join(dir, "annotations_without_background.json"),
        JSON.stringify({
          info: { description: `glip-bench demo ${spec.name} (seed ${seed})` },
          images,
          annotations,
          categories,
        }),
      );
    }
  }
  await Deno.writeTextFile(stamp, `${seed}\n`);
  return { root, tasks: demoTasks() };
}
