import { assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { runCli } from "../cli_helpers.ts";
import { DownloadError, downloadFile, sha256File } from "../../datasets/download.ts";
import { makeZip, sha256Hex } from "./archive_fixtures.ts";

/** A local HTTP server on 127.0.0.1 that honours Range and can cut a transfer half way. */
function serveFiles(
  files: Record<string, Uint8Array<ArrayBuffer>>,
  options: { cutFirst?: boolean } = {},
) {
  const requests: { path: string; range: string | null }[] = [];
  const cut = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname.slice(1);
    const range = request.headers.get("range");
    requests.push({ path, range });
    const bytes = files[path];
    if (!bytes) return new Response("not found", { status: 404 });
    const start = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
    if (start >= bytes.length) return new Response(null, { status: 416 });
    const body = bytes.slice(start);
    const headers = new Headers({ "content-length": String(body.length) });
    if (range) headers.set("content-range", `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    if (options.cutFirst && !cut.has(path)) {
      cut.add(path);
      const half = body.subarray(0, Math.floor(body.length / 2));
      // The body ends before its content-length, so the server drops the connection: the client
      // sees a cut transfer, and the server has no error of its own to print.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(half);
          setTimeout(() => controller.close(), 20);
        },
      });
      return new Response(stream, { status: range ? 206 : 200, headers });
    }
    return new Response(body, { status: range ? 206 : 200, headers });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}/`,
    requests,
    close: () => server.shutdown(),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const payload = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);

Deno.test("downloadFile() resumes an interrupted download with a Range request", async () => {
  const server = serveFiles({ "big.bin": payload }, { cutFirst: true });
  try {
    await withDir(async (dir) => {
      const sha256 = await sha256Hex(payload);
      const dest = `${dir}/big.bin`;
      await assertRejects(
        () => downloadFile(`${server.base}big.bin`, dest, { sha256 }),
        DownloadError,
        "run again to resume",
      );
      const partial = (await Deno.stat(`${dest}.part`)).size;
      assertEquals(partial > 0 && partial < payload.length, true, `part holds ${partial} bytes`);
      const result = await downloadFile(`${server.base}big.bin`, dest, { sha256 });
      assertEquals(result.resumedFrom, partial);
      assertEquals(server.requests.at(-1)!.range, `bytes=${partial}-`);
      assertEquals(await Deno.readFile(dest), payload);
      assertEquals(result.sha256, sha256);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() detects a corrupted file by sha256, removes it and names both hashes", async () => {
  const corrupted = payload.slice();
  corrupted[1234] ^= 0xff;
  const server = serveFiles({ "big.bin": corrupted });
  try {
    await withDir(async (dir) => {
      const expected = await sha256Hex(payload);
      const error = await assertRejects(
        () => downloadFile(`${server.base}big.bin`, `${dir}/big.bin`, { sha256: expected }),
        DownloadError,
        `expected ${expected}, got ${await sha256Hex(corrupted)}`,
      );
      assertStringIncludes(error.message, "removed");
      assertEquals([...Deno.readDirSync(dir)].length, 0);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() rejects a wrong size and reports HTTP errors with the status", async () => {
  const server = serveFiles({ "big.bin": payload });
  try {
    await withDir(async (dir) => {
      await assertRejects(
        () => downloadFile(`${server.base}big.bin`, `${dir}/a.bin`, { size: 5 }),
        DownloadError,
        "expected 5 bytes, got 300000",
      );
      await assertRejects(
        () => downloadFile(`${server.base}missing.zip`, `${dir}/b.bin`),
        DownloadError,
        "HTTP 404",
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() keeps a complete, verified file without fetching it again", async () => {
  const server = serveFiles({ "big.bin": payload });
  try {
    await withDir(async (dir) => {
      await downloadFile(`${server.base}big.bin`, `${dir}/big.bin`);
      const again = await downloadFile(`${server.base}big.bin`, `${dir}/big.bin`, {
        sha256: await sha256Hex(payload),
      });
      assertEquals(again.alreadyPresent, true);
      assertEquals(server.requests.length, 1);
      assertEquals(await sha256File(`${dir}/big.bin`), again.sha256);
    });
  } finally {
    await server.close();
  }
});

Deno.test("deno task data odinw --tasks Aquarium fetches, unpacks in GLIP's layout and removes the zip", async () => {
  const ann =
    "Aquarium/Aquarium Combined.v2-raw-1024.coco/valid/annotations_without_background.json";
  const server = serveFiles({ "Aquarium.zip": makeZip({ [ann]: '{"images": []}' }) });
  try {
    await withDir(async (dir) => {
      const result = await runCli([
        "data",
        "odinw",
        "--tasks",
        "Aquarium",
        "--mirror",
        server.base,
        "--data",
        dir,
        "--json",
      ]);
      assertEquals(result.code, 0, result.stderr);
      assertEquals(await Deno.readTextFile(`${dir}/odinw/${ann}`), '{"images": []}');
      const report = JSON.parse(result.stdout);
      assertEquals(report.files[0].path, "odinw/Aquarium.zip");
      assertStringIncludes(report.files[0].status, "unpacked 1 files");
      assertEquals(
        (await Array.fromAsync(Deno.readDir(`${dir}/odinw`))).some((e) =>
          e.name === "Aquarium.zip"
        ),
        false,
      );
      const again = await runCli([
        "data",
        "odinw",
        "--tasks",
        "Aquarium",
        "--mirror",
        server.base,
        "--data",
        dir,
      ]);
      assertEquals(again.code, 0, again.stderr);
      assertStringIncludes(again.stderr, "already unpacked");
    });
  } finally {
    await server.close();
  }
});

Deno.test("deno task data exits 2 for an unknown dataset or task and 1 when the host fails", async () => {
  const unknown = await runCli(["data", "odnw"]);
  assertEquals(unknown.code, 2);
  assertStringIncludes(unknown.stderr, "Did you mean 'odinw'");
  const task = await runCli(["data", "odinw", "--tasks", "Aquarum"]);
  assertEquals(task.code, 2);
  assertStringIncludes(task.stderr, "'Aquarium'");
  const server = serveFiles({});
  try {
    await withDir(async (dir) => {
      const failed = await runCli(["data", "lvis", "--mirror", server.base, "--data", dir]);
      assertEquals(failed.code, 1);
      assertStringIncludes(failed.stderr, "HTTP 404");
      assertEquals(failed.stderr.includes("    at "), false, failed.stderr);
    });
  } finally {
    await server.close();
  }
});

Deno.test("downloadFile() starts over when the server ignores Range (200 instead of 206)", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(payload.slice()),
  );
  try {
    await withDir(async (dir) => {
      await Deno.writeFile(`${dir}/big.bin.part`, new Uint8Array([1, 2, 3]));
      const result = await downloadFile(
        `http://127.0.0.1:${server.addr.port}/big.bin`,
        `${dir}/big.bin`,
        { sha256: await sha256Hex(payload) },
      );
      assertEquals(result.resumedFrom, 0);
      assertEquals(await Deno.readFile(`${dir}/big.bin`), payload);
    });
  } finally {
    await server.shutdown();
  }
});
