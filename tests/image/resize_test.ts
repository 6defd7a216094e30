import { assertEquals } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import { fileURLToPath } from "node:url";
import { decodeImage } from "../../models/image/decode.ts";
import { glipResizeSize, resizeBilinearPil, roundHalfEven } from "../../models/image/resize.ts";

const dir = fileURLToPath(new URL("oracles/resize/", FIXTURES));
const { cases } = JSON.parse(await Deno.readTextFile(`${dir}cases.json`));

for (const c of cases) {
  Deno.test(`resize equals Pillow 9.4 BILINEAR byte for byte: ${c.name}`, async () => {
    const image = await decodeImage(await Deno.readFile(`${dir}${c.input}`));
    assertEquals([image.width, image.height], c.inputSize);
    const size = glipResizeSize(image.width, image.height, c.minSize, c.maxSize);
    assertEquals([size.width, size.height], c.outputSize);
    const expected = await decodeImage(await Deno.readFile(`${dir}${c.expected}`));
    const ours = resizeBilinearPil(image.rgb, image.width, image.height, size.width, size.height);
    let differing = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== expected.rgb[i]) differing++;
    assertEquals(differing, 0);
  });
}

Deno.test("glipResizeSize() uses Python's round-half-to-even and truncates the long side", () => {
  assertEquals(roundHalfEven(2.5), 2);
  assertEquals(roundHalfEven(3.5), 4);
  assertEquals(glipResizeSize(229, 173, 160, 256), { width: 211, height: 160 });
  assertEquals(glipResizeSize(640, 480, 800, 1333), { width: 1066, height: 800 });
  assertEquals(glipResizeSize(800, 600, 600, 1000), { width: 800, height: 600 });
});
