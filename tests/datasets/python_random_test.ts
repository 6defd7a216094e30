import { assertEquals, assertThrows } from "../assert.ts";
import { FIXTURES } from "../cli_helpers.ts";
import { PythonRandom, seedKey } from "../../datasets/python_random.ts";

interface ShuffleCase {
  seed: bigint;
  n: number;
  shuffled: number[];
}

// Seeds above 2^53 must keep every digit, so they are read from the JSON source text.
const cases: ShuffleCase[] = JSON.parse(
  await Deno.readTextFile(new URL("oracles/fewshot/python-random-shuffle.json", FIXTURES)),
  (key: string, value: unknown, context?: { source?: string }) =>
    key === "seed" ? BigInt(context!.source!) : value,
);

Deno.test("the shuffle oracle covers seeds above 2^32 and 2^64", () => {
  const seeds = new Set(cases.map((c) => c.seed));
  assertEquals(seeds.has(4294967301n), true);
  assertEquals(seeds.has(18446744073709551715n), true);
});

for (const { seed, n, shuffled } of cases) {
  Deno.test(`PythonRandom(${seed}).shuffle(range(${n})) equals CPython's`, () => {
    const items = Array.from({ length: n }, (_, i) => i);
    new PythonRandom(seed).shuffle(items);
    assertEquals(items, shuffled);
  });
}

Deno.test("seedKey() splits |seed| into 32-bit little-endian chunks, [0] for zero", () => {
  assertEquals(seedKey(0), [0]);
  assertEquals(seedKey(-5), [5]);
  assertEquals(seedKey(4294967301n), [5, 1]);
  assertEquals(seedKey(2n ** 64n + 99n), [99, 0, 1]);
});

Deno.test("PythonRandom(42) gives CPython's random(), getrandbits(70) and getrandbits(5)", () => {
  // Python 3.11: r = random.Random(42); r.random(), r.getrandbits(70), r.getrandbits(5)
  const random = new PythonRandom(42);
  assertEquals(random.random(), 0.6394267984578837);
  assertEquals(random.getrandbits(70), 327273841618135227089n);
  assertEquals(random.getrandbits(5), 7n);
});

Deno.test("a negative seed draws the same numbers as its absolute value (CPython uses abs)", () => {
  assertEquals(new PythonRandom(-3).random(), new PythonRandom(3).random());
});

Deno.test("PythonRandom rejects a non-integer seed and randbelow(0)", () => {
  assertThrows(() => new PythonRandom(1.5), RangeError, "1.5");
  assertThrows(() => new PythonRandom(1).randbelow(0), RangeError, "got 0");
});
