import { encode as encodePng } from "fast-png";
import { assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { InputError } from "../../core/errors.ts";
import { imageDimensions } from "../../models/image/dimensions.ts";
import { decodeImage, DEFAULT_MAX_IMAGE_PIXELS } from "../../models/image/decode.ts";

/** A PNG signature and IHDR declaring `width` x `height`, followed by no image data at all. */
function pngHeader(width: number, height: number): Uint8Array {
  const bytes = new Uint8Array(33);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  bytes.set([8, 2, 0, 0, 0], 24); // 8-bit RGB
  return bytes;
}

/** SOI, an APP0 segment, then a baseline SOF0 declaring `width` x `height` (no scan data). */
function jpegHeader(width: number, height: number): Uint8Array {
  const app0 = [0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
  const sof = [0xff, 0xc0, 0, 17, 8, height >> 8, height & 255, width >> 8, width & 255, 3];
  return new Uint8Array([0xff, 0xd8, ...app0, ...sof, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
}

Deno.test("imageDimensions() reads PNG and JPEG sizes from the header", () => {
  assertEquals(imageDimensions(pngHeader(20000, 20000)), { width: 20000, height: 20000 });
  assertEquals(imageDimensions(jpegHeader(640, 480)), { width: 640, height: 480 });
  assertThrows(() => imageDimensions(new Uint8Array([0xff, 0xd8, 0xff, 0xd9])), InputError);
});

Deno.test("a 20000x20000 PNG or JPEG is refused before decoding, as PIL refuses it", async () => {
  for (
    const [bytes, name] of [[pngHeader(20000, 20000), "bomb.png"], [
      jpegHeader(20000, 20000),
      "bomb.jpg",
    ]] as const
  ) {
    const error = await assertRejects(
      () => decodeImage(bytes, name),
      InputError,
      "decompression bomb",
    );
    assertEquals(error.message.includes(`${name}: image size (400000000 pixels)`), true);
    assertEquals(error.message.includes("--max-image-pixels"), true);
  }
});

Deno.test("above PIL's MAX_IMAGE_PIXELS but under twice it: a warning, then decoding", async () => {
  const warnings: string[] = [];
  const width = 10000;
  const height = Math.ceil((DEFAULT_MAX_IMAGE_PIXELS + 1) / width);
  // the header-only file then fails to decode: the warning came first, from the header alone
  await assertRejects(
    () => decodeImage(pngHeader(width, height), "big.png", { onWarning: (w) => warnings.push(w) }),
    InputError,
    "cannot decode PNG",
  );
  assertEquals(warnings.length, 1);
  assertEquals(warnings[0].startsWith(`big.png: image size (${width * height} pixels`), true);
});

Deno.test("the limit is an option and an environment variable; Infinity turns it off", async () => {
  const png = encodePng({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 3), channels: 3 });
  await assertRejects(
    () => decodeImage(png, "small.png", { maxImagePixels: 31 }),
    InputError,
    "exceeds limit of 62 pixels",
  );
  const warnings: string[] = [];
  const image = await decodeImage(png, "small.png", {
    maxImagePixels: 32,
    onWarning: (w) => warnings.push(w),
  });
  assertEquals([image.width, warnings.length], [8, 1]);
  assertEquals((await decodeImage(png, "small.png", { maxImagePixels: Infinity })).height, 8);
  Deno.env.set("GLIP_BENCH_MAX_IMAGE_PIXELS", "20");
  try {
    await assertRejects(
      () => decodeImage(png, "small.png"),
      InputError,
      "exceeds limit of 40 pixels",
    );
  } finally {
    Deno.env.delete("GLIP_BENCH_MAX_IMAGE_PIXELS");
  }
});
