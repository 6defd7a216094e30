/**
 * JPEG decoding against PIL: fixtures written and decoded by Pillow 9.4.0 (libjpeg-turbo) in
 * 4:2:0, 4:2:2 and 4:4:4 subsampling, progressive and greyscale (tests/fixtures/jpeg/cases.json).
 */
import { assert, assertEquals } from "../assert.ts";
import { fileURLToPath } from "node:url";
import { decodeImage } from "../../models/image/decode.ts";

const dir = fileURLToPath(new URL("../fixtures/jpeg/", import.meta.url));
const { cases } = JSON.parse(await Deno.readTextFile(`${dir}cases.json`)) as {
  cases: { name: string; jpeg: string; pil: string }[];
};

async function difference(c: (typeof cases)[number]) {
  const ours = await decodeImage(await Deno.readFile(`${dir}${c.jpeg}`), c.jpeg);
  const pil = await decodeImage(await Deno.readFile(`${dir}${c.pil}`), c.pil);
  assertEquals([ours.width, ours.height], [pil.width, pil.height]);
  let max = 0;
  for (let i = 0; i < ours.rgb.length; i++) max = Math.max(max, Math.abs(ours.rgb[i] - pil.rgb[i]));
  return max;
}

for (const c of cases) {
  Deno.test(`decodeImage() gives PIL's bytes exactly for a JPEG: ${c.name}`, async () => {
    assertEquals(await difference(c), 0);
  });
}

Deno.test("the opt-in pure-JS JPEG decoder differs from PIL on 4:2:0 files (why it is not the default)", async () => {
  Deno.env.set("GLIP_BENCH_JPEG_DECODER", "jpeg-js");
  try {
    const subsampled = await difference(cases.find((c) => c.name === "photo-q75-420")!);
    assert(subsampled > 10, `max difference ${subsampled}`);
  } finally {
    Deno.env.delete("GLIP_BENCH_JPEG_DECODER");
  }
});
