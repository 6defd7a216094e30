import { join } from "node:path";
import { assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { InputError } from "../../core/errors.ts";
import { DownloadError, downloadFile } from "../../datasets/download.ts";
import { DATA_LOCK_FILE, readDataLock } from "../../datasets/data_lock.ts";
import { insecureUrl } from "../../cli/commands/data.ts";
import { makeZip, sha256Hex } from "./archive_fixtures.ts";

const v1 = new Uint8Array(200_000).map((_, i) => (i * 7919) % 251);
const v2 = v1.map((b, i) => (i >= 100_000 ? b ^ 0x5a : b));

interface Seen {
  range: string | null;
  ifRange: string | null;
}

/**
 * A server for one file whose version (bytes and ETag) the test switches; `mode` picks how it
 * answers a Range request.
 */
function versionedServer(
  mode: "honest" | "ignores-if-range" | "range-from-zero" | "416",
  cutFirst = true,
) {
  const seen: Seen[] = [];
  let current = { bytes: v1, etag: '"v1"' };
  let cutNext = cutFirst;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const range = request.headers.get("range");
    const ifRange = request.headers.get("if-range");
    seen.push({ range, ifRange });
    const { bytes, etag } = current;
    const headers = new Headers({ etag });
    let start = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
    if (range && mode === "416") return new Response(null, { status: 416, headers });
    if (range && mode === "honest" && ifRange !== etag) start = -1; // If-Range failed: send all
    if (range && mode === "range-from-zero") start = 0;
    const partial = range !== null && start >= 0;
    const body = bytes.slice(Math.max(start, 0));
    headers.set("content-length", String(body.length));
    if (partial) {
      headers.set("content-range", `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    }
    if (cutNext) {
      cutNext = false;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          // half the bytes, then the end: shorter than its Content-Length
          controller.enqueue(body.subarray(0, 100_000));
          controller.close();
        },
      });
      return new Response(stream, { status: partial ? 206 : 200, headers });
    }
    return new Response(body, { status: partial ? 206 : 200, headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/file.bin`,
    seen,
    changeFile: () => current = { bytes: v2, etag: '"v2"' },
    close: () => server.shutdown(),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "download-resume-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Cuts the first transfer of v1, changes the file to v2, and resumes. */
async function resumeAcrossChange(mode: Parameters<typeof versionedServer>[0]) {
  const server = versionedServer(mode);
  try {
    let result;
    await withDir(async (dir) => {
      const dest = join(dir, "file.bin");
      await assertRejects(() => downloadFile(server.url, dest), DownloadError, "run again");
      server.changeFile();
      result = await downloadFile(server.url, dest);
      // never a splice of v1's first half and v2's second half
      assertEquals(await Deno.readFile(dest), v2);
      assertEquals((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["file.bin"]);
    });
    return { result: result!, seen: server.seen };
  } finally {
    await server.close();
  }
}

Deno.test("a resumed download sends If-Range with the first ETag; a changed file comes whole", async () => {
  const { result, seen } = await resumeAcrossChange("honest");
  assertEquals(seen[1], { range: "bytes=100000-", ifRange: '"v1"' });
  assertEquals(result.resumedFrom, 0);
});

Deno.test("a 206 with another ETag, a Content-Range elsewhere, or a 416 restart from byte 0", async () => {
  for (const mode of ["ignores-if-range", "range-from-zero", "416"] as const) {
    const { result, seen } = await resumeAcrossChange(mode);
    assertEquals(seen.length, 3, mode);
    assertEquals(seen[2].range, null, mode);
    assertEquals(result.resumedFrom, 0, mode);
  }
});

Deno.test("an unchanged file resumes from the part file", async () => {
  const server = versionedServer("honest");
  try {
    await withDir(async (dir) => {
      const dest = join(dir, "file.bin");
      await assertRejects(() => downloadFile(server.url, dest), DownloadError, "run again");
      const result = await downloadFile(server.url, dest);
      assertEquals([result.resumedFrom, server.seen.length], [100_000, 2]);
      assertEquals(await Deno.readFile(dest), v1);
    });
  } finally {
    await server.close();
  }
});

Deno.test("a part file with no validator and no pinned sha256 is not resumed", async () => {
  const server = versionedServer("honest", false);
  try {
    await withDir(async (dir) => {
      const dest = join(dir, "file.bin");
      await Deno.writeFile(`${dest}.part`, v2.slice(0, 1000));
      const result = await downloadFile(server.url, dest);
      assertEquals(server.seen, [{ range: null, ifRange: null }]);
      assertEquals(result.resumedFrom, 0);
      assertEquals(await Deno.readFile(dest), v1);
    });
  } finally {
    await server.close();
  }
});

/** A server for `lvis`'s two files by name, with bytes the test can change. */
function lvisMirror(files: Record<string, Uint8Array<ArrayBuffer>>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const bytes = files[new URL(request.url).pathname.slice(1)];
    return bytes ? new Response(bytes.slice()) : new Response("no", { status: 404 });
  });
  return { base: `http://127.0.0.1:${server.addr.port}/`, close: () => server.shutdown() };
}

Deno.test("the data lock records each download, catches a changed file on another machine, and --verify checks it", async () => {
  const files = {
    "lvis_v1_minival_inserted_image_name.json": new TextEncoder().encode('{"images": []}'),
    "lvis_od_val.json": new TextEncoder().encode('{"images": [1]}'),
  };
  const mirror = lvisMirror(files);
  try {
    await withDir(async (dir) => {
      const first = join(dir, "machine-1");
      const run = (root: string, ...more: string[]) =>
        runCli(["data", "lvis", "--mirror", mirror.base, "--data", root, ...more]);
      assertEquals((await run(first)).code, 0);
      const lock = await readDataLock(first);
      const recorded = lock.files.get("coco/annotations/lvis_od_val.json")!;
      assertEquals(recorded.sha256, await sha256Hex(files["lvis_od_val.json"]));
      assertEquals(recorded.size, 15);
      const verified = await runCli(["data", "--verify", "--data", first]);
      assertEquals(verified.code, 0, verified.stderr);

      // machine 2 has the lock; the mirror now serves other bytes for one file
      const second = join(dir, "machine-2");
      await Deno.mkdir(second);
      await Deno.copyFile(join(first, DATA_LOCK_FILE), join(second, DATA_LOCK_FILE));
      files["lvis_od_val.json"] = new TextEncoder().encode('{"images": [2]}');
      const changed = await run(second);
      assertEquals(changed.code, 1, changed.stderr);
      assertStringIncludes(changed.stderr, "lvis_od_val.json.part: sha256 mismatch (expected");
      assertStringIncludes(changed.stderr, `${recorded.sha256}, as recorded in`);

      // a file changed on disk fails --verify with both values
      await Deno.writeTextFile(join(first, "coco/annotations/lvis_od_val.json"), "{}");
      const tampered = await runCli(["data", "--verify", "--data", first]);
      assertEquals(tampered.code, 1);
      assertStringIncludes(
        tampered.stdout,
        `DIFFERS: expected 15 bytes, sha256 ${recorded.sha256}`,
      );
    });
  } finally {
    await mirror.close();
  }
});

Deno.test("a plain http:// mirror on another host is refused for files without a pinned sha256", async () => {
  await withDir(async (dir) => {
    const refused = await runCli([
      "data",
      "lvis",
      "--mirror",
      "http://mirror.example/",
      "--data",
      dir,
    ]);
    assertEquals(refused.code, 2, refused.stderr);
    assertStringIncludes(
      refused.stderr,
      "refusing plain http:// for 2 file(s) with no pinned sha256",
    );
    assertEquals((await Array.fromAsync(Deno.readDir(dir))).length, 0);
  });
  assertEquals(
    [insecureUrl("http://mirror.example/a"), insecureUrl("https://mirror.example/a")],
    [true, false],
  );
  assertEquals([insecureUrl("http://127.0.0.1:8000/a"), insecureUrl("http://localhost/a")], [
    false,
    false,
  ]);
});

Deno.test("a malformed data lock is refused naming the entry and field", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, DATA_LOCK_FILE),
      JSON.stringify({ version: 1, files: { "a.zip": { size: -1, sha256: "x", url: "u" } } }),
    );
    await assertRejects(() => readDataLock(dir), InputError, 'files["a.zip"].size');
  });
});

Deno.test("--verify checks an unpacked archive by the sha256 its marker recorded", async () => {
  const zip = makeZip({ "Aquarium/a.txt": "a" });
  const mirror = lvisMirror({ "Aquarium.zip": zip });
  try {
    await withDir(async (dir) => {
      const fetched = await runCli([
        "data",
        "odinw",
        "--tasks",
        "Aquarium",
        "--mirror",
        mirror.base,
        "--data",
        dir,
      ]);
      assertEquals(fetched.code, 0, fetched.stderr);
      const verified = await runCli(["data", "--verify", "odinw", "--data", dir]);
      assertEquals(verified.code, 0, verified.stderr);
      assertStringIncludes(verified.stdout, "ok (unpacked; its marker records the locked sha256)");
      await Deno.writeTextFile(join(dir, "odinw", ".Aquarium.zip.extracted"), "0".repeat(64));
      const changed = await runCli(["data", "--verify", "odinw", "--data", dir]);
      assertEquals(changed.code, 1);
      assertStringIncludes(changed.stdout, `DIFFERS: unpacked from sha256 ${"0".repeat(64)}`);
    });
  } finally {
    await mirror.close();
  }
});
