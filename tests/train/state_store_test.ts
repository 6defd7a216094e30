/**
 * The per-epoch training state store: files first, the state naming their digests last; resume
 * takes the newest consistent state and falls back past an inconsistent one; the previous epoch
 * is kept until the next one is committed; leftovers of an interrupted write are removed.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { StateStore } from "../../models/train/state_store.ts";

class Crash extends Error {}

const textFile = (name: string, text: string) => ({
  name,
  write: (path: string) => Deno.writeTextFile(path, text),
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "state-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("StateStore: the newest committed epoch is read back with its files", () =>
  withDir(async (dir) => {
    const store = new StateStore<{ step: number }>(dir);
    assertEquals(await store.latest(), undefined);
    for (const epoch of [1, 2, 3]) {
      await store.commit(epoch, [textFile("weights.bin", `w${epoch}`)], { step: epoch * 10 });
    }
    const latest = (await store.latest())!;
    assertEquals([latest.epoch, latest.state], [3, { step: 30 }]);
    assertEquals(await Deno.readTextFile(latest.file("weights.bin")), "w3");
    // epoch 2 is kept until epoch 4 is committed; epoch 1 is gone
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["epoch-0002", "epoch-0003", "state-0002.json", "state-0003.json"]);
  }));

Deno.test("StateStore: a crash after any file of an epoch leaves the previous epoch as the state", () =>
  withDir(async (dir) => {
    for (const crashAfter of ["epoch-0002/a.bin", "epoch-0002/b.bin"]) {
      const store = new StateStore<number>(dir, {
        afterWrite: (what) => {
          if (what === crashAfter) throw new Crash(what);
        },
      });
      await store.commit(1, [textFile("a.bin", "a1"), textFile("b.bin", "b1")], 1);
      let crashed = false;
      try {
        await store.commit(2, [textFile("a.bin", "a2"), textFile("b.bin", "b2")], 2);
      } catch (error) {
        crashed = error instanceof Crash;
      }
      assert(crashed, `crashed after ${crashAfter}`);
      const latest = (await new StateStore<number>(dir).latest())!;
      assertEquals(latest.epoch, 1);
      assertEquals(await Deno.readTextFile(latest.file("a.bin")), "a1");
      await Deno.remove(join(dir, "epoch-0002"), { recursive: true });
    }
  }));

Deno.test("StateStore: a state whose file changed falls back to the epoch before, saying why", () =>
  withDir(async (dir) => {
    const store = new StateStore<number>(dir);
    await store.commit(1, [textFile("weights.bin", "w1")], 1);
    await store.commit(2, [textFile("weights.bin", "w2")], 2);
    await Deno.writeTextFile(join(dir, "epoch-0002", "weights.bin"), "w?");
    const lines: string[] = [];
    const latest = (await new StateStore<number>(dir, { log: (l) => lines.push(l) }).latest())!;
    assertEquals(latest.epoch, 1);
    assert(
      lines.length === 1 && lines[0].includes("epoch-0002/weights.bin has sha256") &&
        lines[0].includes("falling back"),
      lines.join("\n"),
    );
    // a truncated state file is skipped the same way
    await Deno.writeTextFile(join(dir, "state-0002.json"), '{"format": "glip-bench-tr');
    assertEquals((await new StateStore<number>(dir).latest())!.epoch, 1);
  }));

Deno.test("StateStore: temporary files of an interrupted write are removed on resume", () =>
  withDir(async (dir) => {
    const store = new StateStore<number>(dir);
    await store.commit(1, [textFile("weights.bin", "w1")], 1);
    await Deno.mkdir(join(dir, "epoch-0002"));
    await Deno.writeTextFile(join(dir, "epoch-0002", "weights.bin.tmp-1-ab"), "half");
    await Deno.writeTextFile(join(dir, "state-0002.json.tmp-1-cd"), "{");
    assertEquals((await store.latest())!.epoch, 1);
    assertEquals([...Deno.readDirSync(join(dir, "epoch-0002"))], []);
    assert(!(await Deno.stat(join(dir, "state-0002.json.tmp-1-cd")).catch(() => false)));
  }));
