import { assertEquals, assertThrows } from "../assert.ts";
import { DATA_SOURCES, dataSource, ODINW_ARCHIVES } from "../../datasets/sources.ts";
import { odinwTasks } from "../../datasets/odinw.ts";
import { sourceUrl } from "../../cli/commands/data.ts";
import { UsageError } from "../../core/errors.ts";

Deno.test("every ODinW-35 task's folder is one of the archives GLIP's download.py lists", () => {
  assertEquals(ODINW_ARCHIVES.length, 33);
  for (const task of odinwTasks("odinw35")) {
    const folder = task.splits.train.annFile.split("/")[1];
    assertEquals(ODINW_ARCHIVES.includes(folder), true, `${task.name} -> ${folder}`);
  }
});

Deno.test("ODinW archives come from GLIP's Hugging Face folder as files (resolve/main), not pages", () => {
  for (const file of DATA_SOURCES.odinw.files) {
    assertEquals(
      file.url,
      `https://huggingface.co/GLIPModel/GLIP/resolve/main/odinw_35/${file.group}.zip`,
    );
    assertEquals(file.extractTo, "odinw");
  }
});

Deno.test("within a dataset every file has its own name, so --mirror can serve them by name", () => {
  for (const source of Object.values(DATA_SOURCES)) {
    const names = source.files.map((f) => new URL(sourceUrl(f, "http://127.0.0.1:1/m")).pathname);
    assertEquals(new Set(names).size, names.length, source.name);
    for (const name of names) assertEquals(name.startsWith("/m/"), true, name);
  }
});

Deno.test("COCO's archives carry their known sizes and sha256", () => {
  for (const file of DATA_SOURCES.coco.files) {
    assertEquals(typeof file.size, "number", file.path);
    assertEquals(/^[0-9a-f]{64}$/.test(file.sha256 ?? ""), true, file.path);
  }
});

Deno.test("dataSource() answers an unknown name with a suggestion", () => {
  assertThrows(() => dataSource("flickr"), UsageError, "Did you mean 'flickr30k'");
});
