/**
 * A small pickle (protocol 2) emitter for what `torch.save` writes: ints, strings, booleans,
 * None, tuples, lists, dicts, module globals, calls (`REDUCE`) and persistent ids. Used by the
 * checkpoint writers (test data and conversions; no Python needed).
 *
 * @module
 */

/** A value the emitter writes. */
export type PickleValue =
  | null
  | boolean
  | number
  | string
  | PickleValue[]
  | { tuple: PickleValue[] }
  | { dict: [PickleValue, PickleValue][] }
  | { global: [string, string] }
  | { call: PickleValue; args: PickleValue[] }
  | { persistent: PickleValue }
  | { orderedDict: [string, PickleValue][] }
  | { long: bigint };

const encoder = new TextEncoder();

/** Serializes one pickle (PROTO 2 ... STOP). */
export function pickle(value: PickleValue): Uint8Array {
  const out: number[] = [0x80, 2];
  const bytes = (b: Uint8Array | number[]) => {
    for (const x of b) out.push(x);
  };
  const u32 = (n: number) => bytes([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);
  const write = (v: PickleValue): void => {
    if (v === null) return void out.push(0x4e); // NONE
    if (v === true) return void out.push(0x88); // NEWTRUE
    if (v === false) return void out.push(0x89); // NEWFALSE
    if (typeof v === "number") {
      if (!Number.isInteger(v)) throw new TypeError(`pickle: only integers (got ${v})`);
      if (v >= 0 && v < 256) return void bytes([0x4b, v]); // BININT1
      if (v >= -(2 ** 31) && v < 2 ** 31) {
        out.push(0x4a); // BININT
        return void u32(v >>> 0);
      }
      return void write({ long: BigInt(v) });
    }
    if (typeof v === "string") {
      const encoded = encoder.encode(v);
      out.push(0x58); // BINUNICODE
      u32(encoded.length);
      return void bytes(encoded);
    }
    if (Array.isArray(v)) {
      out.push(0x5d, 0x28); // EMPTY_LIST MARK
      v.forEach(write);
      return void out.push(0x65); // APPENDS
    }
    if ("tuple" in v) {
      out.push(0x28); // MARK
      v.tuple.forEach(write);
      return void out.push(0x74); // TUPLE
    }
    if ("dict" in v) {
      out.push(0x7d, 0x28); // EMPTY_DICT MARK
      for (const [k, item] of v.dict) {
        write(k);
        write(item);
      }
      return void out.push(0x75); // SETITEMS
    }
    if ("orderedDict" in v) {
      write({ call: { global: ["collections", "OrderedDict"] }, args: [] });
      if (v.orderedDict.length === 0) return;
      out.push(0x28); // MARK
      for (const [k, item] of v.orderedDict) {
        write(k);
        write(item);
      }
      return void out.push(0x75); // SETITEMS
    }
    if ("long" in v) {
      // LONG1: minimal little-endian two's complement
      const digits: number[] = [];
      let big = v.long;
      do {
        digits.push(Number(big & 0xffn));
        big >>= 8n;
      } while (
        !(big === 0n && (digits.at(-1)! & 0x80) === 0) &&
        !(big === -1n && (digits.at(-1)! & 0x80) !== 0)
      );
      return void bytes([0x8a, digits.length, ...digits]);
    }
    if ("global" in v) {
      out.push(0x63); // GLOBAL "module\nname\n"
      return void bytes(encoder.encode(`${v.global[0]}\n${v.global[1]}\n`));
    }
    if ("call" in v) {
      write(v.call);
      write({ tuple: v.args });
      return void out.push(0x52); // REDUCE
    }
    if ("persistent" in v) {
      write(v.persistent);
      return void out.push(0x51); // BINPERSID
    }
    throw new TypeError(`pickle: cannot write ${JSON.stringify(v)}`);
  };
  write(value);
  out.push(0x2e); // STOP
  return Uint8Array.from(out);
}
