/**
 * The JPEG decoder imports sharp by a full `npm:` specifier (a bare name would not resolve once
 * the package is published); it must name the version the import map pins, and it must load.
 */
import { assertEquals } from "../assert.ts";
import { SHARP_SPECIFIER } from "../../models/image/decode.ts";

Deno.test("sharp is imported at the version deno.json pins", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assertEquals(SHARP_SPECIFIER, config.imports.sharp);
});

Deno.test("the sharp specifier loads the native decoder", async () => {
  const sharp = (await import(SHARP_SPECIFIER)).default;
  assertEquals(typeof sharp, "function");
});
