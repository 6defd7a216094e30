/**
 * Candidate reduction on the GPU (WGSL, on the engine's own device): instead of reading back
 * every token logit (about 22,400 locations x 256 tokens for a GLIP-T image, 23 MB), a kernel
 * keeps the (location, label) pairs whose label has a token logit at or above a bound and reads
 * back only those pairs with their labels' token logits. The bound is the CPU post-processing's
 * own rejection bound rounded down to float32, so the kept set contains every pair the CPU would
 * examine; the exact scores, threshold and top-k then run on the CPU unchanged, and the
 * detections are identical to the dense path's (tests/engines/device_reduction_test.ts).
 *
 * @module
 */
import type { CandidateFilter, LevelCandidates } from "../engine.ts";

const WORKGROUP = 256;
const MAX_GROUPS_X = 65535;
const COUNT_STRIDE = 256;
/** Sort keys pack (pair, slot) as pair * 2^25 + slot, exact in a double. */
const SLOT_RANGE = 33554432;

const SHADER = /* wgsl */ `
struct Params {
  locations: u32,
  tokens: u32,
  labels: u32,
  maxTokens: u32,
  bound: f32,
  capacity: u32,
  groupsX: u32,
  pad: u32,
}
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labelTokens: array<i32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read_write> count: atomic<u32>;
@group(0) @binding(4) var<storage, read_write> pairs: array<u32>;
@group(0) @binding(5) var<storage, read_write> values: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let pair = id.x + id.y * params.groupsX * ${WORKGROUP}u;
  if (pair >= params.locations * params.labels) { return; }
  let location = pair / params.labels;
  let label = pair % params.labels;
  let row = location * params.tokens;
  var keep = false;
  for (var t = 0u; t < params.maxTokens; t++) {
    let token = labelTokens[label * params.maxTokens + t];
    if (token >= 0 && logits[row + u32(token)] >= params.bound) { keep = true; }
  }
  if (!keep) { return; }
  let slot = atomicAdd(&count, 1u);
  if (slot >= params.capacity) { return; }
  pairs[slot] = pair;
  for (var t = 0u; t < params.maxTokens; t++) {
    let token = labelTokens[label * params.maxTokens + t];
    var value = 0.0;
    if (token >= 0) { value = logits[row + u32(token)]; }
    values[slot * params.maxTokens + t] = value;
  }
}
`;

/** The largest float32 not above `value` (so a float32 comparison keeps a superset). */
export function float32AtMost(value: number): number {
  const rounded = Math.fround(value);
  if (rounded <= value) return rounded;
  const bits = new Float32Array([rounded]);
  const view = new Int32Array(bits.buffer);
  view[0] += rounded > 0 ? -1 : 1;
  return bits[0];
}

/** One level's token logits on the device: [locations, tokens] float32. */
export interface DeviceLogits {
  buffer: GPUBuffer;
  locations: number;
}

/** Runs the candidate kernel on a device; one pipeline per device, buffers per call. */
export class CandidateReducer {
  #pipeline: GPUComputePipeline;

  constructor(readonly device: GPUDevice) {
    this.#pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: "main" },
    });
  }

  /** The kept pairs of every level, ascending by `location * labels + label`. */
  async reduce(
    levels: DeviceLogits[],
    tokens: number,
    filter: CandidateFilter,
  ): Promise<LevelCandidates[]> {
    const device = this.device;
    const L = filter.labelTokens.length;
    const maxTokens = Math.max(1, ...filter.labelTokens.map((t) => t.length));
    const table = new Int32Array(L * maxTokens).fill(-1);
    filter.labelTokens.forEach((list, j) => list.forEach((t, q) => (table[j * maxTokens + q] = t)));
    const bound = float32AtMost(filter.logitBound);
    const usage = GPUBufferUsage;
    const created: GPUBuffer[] = [];
    const buffer = (size: number, flags: number) => {
      const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage: flags });
      created.push(b);
      return b;
    };
    try {
      const tableBuffer = buffer(table.byteLength, usage.STORAGE | usage.COPY_DST);
      device.queue.writeBuffer(tableBuffer, 0, table);
      const countBytes = COUNT_STRIDE * levels.length;
      const counts = buffer(countBytes, usage.STORAGE | usage.COPY_SRC | usage.COPY_DST);
      device.queue.writeBuffer(counts, 0, new Uint32Array(countBytes / 4));
      const outputs = levels.map((level) => {
        const capacity = Math.max(1, level.locations * L);
        if (capacity >= SLOT_RANGE) {
          throw new RangeError(`device reduction: ${capacity} pairs exceed ${SLOT_RANGE}`);
        }
        return {
          capacity,
          pairs: buffer(4 * capacity, usage.STORAGE | usage.COPY_SRC),
          values: buffer(4 * capacity * maxTokens, usage.STORAGE | usage.COPY_SRC),
        };
      });
      const encoder = device.createCommandEncoder();
      levels.forEach((level, l) => {
        if (level.locations === 0 || L === 0) return;
        const groups = Math.ceil((level.locations * L) / WORKGROUP);
        const groupsX = Math.min(groups, MAX_GROUPS_X);
        const params = new ArrayBuffer(32);
        const u32 = new Uint32Array(params);
        u32.set([level.locations, tokens, L, maxTokens], 0);
        new Float32Array(params)[4] = bound;
        u32.set([outputs[l].capacity, groupsX, 0], 5);
        const uniform = buffer(32, usage.UNIFORM | usage.COPY_DST);
        device.queue.writeBuffer(uniform, 0, params);
        // each level counts into its own slot (storage offsets are 256-byte aligned)
        const bind = device.createBindGroup({
          layout: this.#pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: level.buffer } },
            { binding: 1, resource: { buffer: tableBuffer } },
            { binding: 2, resource: { buffer: uniform } },
            { binding: 3, resource: { buffer: counts, offset: COUNT_STRIDE * l, size: 4 } },
            { binding: 4, resource: { buffer: outputs[l].pairs } },
            { binding: 5, resource: { buffer: outputs[l].values } },
          ],
        });
        const pass = encoder.beginComputePass();
        pass.setPipeline(this.#pipeline);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(groupsX, Math.ceil(groups / groupsX));
        pass.end();
      });
      const countRead = buffer(countBytes, usage.MAP_READ | usage.COPY_DST);
      encoder.copyBufferToBuffer(counts, 0, countRead, 0, countBytes);
      device.queue.submit([encoder.finish()]);
      await countRead.mapAsync(GPUMapMode.READ);
      const slots = new Uint32Array(countRead.getMappedRange().slice(0));
      const found = levels.map((_, l) => slots[(COUNT_STRIDE / 4) * l]);
      countRead.unmap();
      const copy = device.createCommandEncoder();
      const reads = found.map((n, l) => {
        const kept = Math.min(n, outputs[l].capacity);
        const pairs = buffer(4 * kept, usage.MAP_READ | usage.COPY_DST);
        const values = buffer(4 * kept * maxTokens, usage.MAP_READ | usage.COPY_DST);
        if (kept > 0) {
          copy.copyBufferToBuffer(outputs[l].pairs, 0, pairs, 0, 4 * kept);
          copy.copyBufferToBuffer(outputs[l].values, 0, values, 0, 4 * kept * maxTokens);
        }
        return { kept, pairs, values };
      });
      device.queue.submit([copy.finish()]);
      const results: LevelCandidates[] = [];
      for (const { kept, pairs, values } of reads) {
        await Promise.all([pairs.mapAsync(GPUMapMode.READ), values.mapAsync(GPUMapMode.READ)]);
        const rawPairs = new Uint32Array(pairs.getMappedRange().slice(0, 4 * kept));
        const rawValues = new Float32Array(values.getMappedRange().slice(0, 4 * kept * maxTokens));
        pairs.unmap();
        values.unmap();
        results.push(sortByPair(rawPairs, rawValues, maxTokens));
      }
      return results;
    } finally {
      for (const b of created) b.destroy();
    }
  }
}

/**
 * The kernel appends in whatever order the invocations run; sort by pair index (unique) so the
 * candidates come in the CPU scan's row-major order.
 */
function sortByPair(pairs: Uint32Array, values: Float32Array, tokens: number): LevelCandidates {
  const n = pairs.length;
  const keys = new Float64Array(n);
  for (let s = 0; s < n; s++) keys[s] = pairs[s] * SLOT_RANGE + s;
  keys.sort();
  const sortedPairs = new Int32Array(n);
  const sortedValues = new Float32Array(n * tokens);
  for (let k = 0; k < n; k++) {
    const s = keys[k] % SLOT_RANGE;
    sortedPairs[k] = pairs[s];
    sortedValues.set(values.subarray(s * tokens, (s + 1) * tokens), k * tokens);
  }
  return { pairs: sortedPairs, logits: sortedValues, tokensPerPair: tokens };
}
