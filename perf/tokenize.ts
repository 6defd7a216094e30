/**
 * `deno task perf:tokenize`: tokenizing a 256-token prompt (target under 1 ms) and building
 * LVIS's 1203-name prompts in chunks of 40.
 * @module
 */
import { loadBertTokenizer } from "../models/text/tokenizer.ts";
import { buildChunkedPrompts } from "../models/text/prompt.ts";

const tokenizer = await loadBertTokenizer();
const words = [
  "person",
  "bicycle",
  "traffic light",
  "fire hydrant",
  "hair drier",
  "toothbrush",
  "jellyfish",
  "starfish",
];
let text = "";
while (tokenizer.encode(text).length < 256) {
  text += (text ? ". " : "") + words[text.length % words.length];
}
const time = (fn: () => void, runs: number) => {
  for (let i = 0; i < 20; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { p50: times[runs >> 1], p90: times[Math.floor(runs * 0.9)] };
};
const tokens = tokenizer.encode(text, { maxLength: 256 }).length;
const encode = time(() => tokenizer.encode(text, { maxLength: 256, padToMaxLength: true }), 500);
console.log(
  `tokenize a ${tokens}-token prompt: p50 ${encode.p50.toFixed(3)} ms, p90 ${
    encode.p90.toFixed(3)
  } ms (target 1 ms: ${encode.p50 < 1 ? "met" : "missed"})`,
);
const names = Array.from({ length: 1203 }, (_, i) => `${words[i % words.length]}_${i}_(thing)`);
const lvis = time(() => buildChunkedPrompts(tokenizer, names, { chunkSize: 40 }), 20);
console.log(`LVIS-sized prompts (1203 names, 31 chunks of 40): p50 ${lvis.p50.toFixed(1)} ms`);
