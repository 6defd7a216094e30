/**
 * Checkpoint readers and writers: PyTorch `.pth` (torch >= 1.6 zip format and the legacy
 * format) and safetensors, chosen by the file's first bytes.
 * @module
 */
export {
  type Checkpoint,
  type CheckpointTensor,
  readPthCheckpoint,
  type TensorDtype,
} from "./pth.ts";
export { readSafetensors, readSafetensorsMetadata, writeSafetensors } from "./safetensors.ts";
export { readLegacyCheckpoint } from "./legacy.ts";
export { type TensorSpec, writeLegacyCheckpoint, writeTorchZipCheckpoint } from "./write_pth.ts";
import { type Checkpoint, readPthCheckpoint } from "./pth.ts";
import { readSafetensors } from "./safetensors.ts";
import { looksLegacy, readLegacyCheckpoint } from "./legacy.ts";
import { InputError } from "../../core/errors.ts";

/** Opens a checkpoint by its format (zip = torch >= 1.6, a pickle = legacy, else safetensors). */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let head: Uint8Array;
  try {
    using file = await Deno.open(path, { read: true });
    head = new Uint8Array(8);
    await file.read(head);
  } catch (error) {
    throw new InputError(`cannot open the checkpoint (${(error as Error).message})`, {
      file: path,
    });
  }
  if (head[0] === 0x50 && head[1] === 0x4b) return await readPthCheckpoint(path);
  if (looksLegacy(head)) return await readLegacyCheckpoint(path);
  return await readSafetensors(path);
}

/** Every tensor of a checkpoint as float32 values with its shape (small files: it reads all). */
export async function readFloatTensors(
  path: string,
): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const checkpoint = await readCheckpoint(path);
  try {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, tensor] of checkpoint.tensors) {
      tensors.set(name, { shape: tensor.shape, data: await tensor.toFloat32() });
    }
    return tensors;
  } finally {
    checkpoint.close();
  }
}

/**
 * Checks a checkpoint's declared shapes against those an architecture expects, before any
 * tensor is read: every tensor named in `expected` that the checkpoint has must have that shape
 * (scalars saved as `[]` or `[1]` are the same). All mismatches are listed in one InputError.
 * Missing names are left to the caller (some are optional).
 *
 * @example
 * ```ts ignore
 * const checkpoint = await readCheckpoint("glip_tiny.pth");
 * checkExpectedShapes(checkpoint, new Map([["rpn.head.cls_logits.weight", [80, 256, 3, 3]]]));
 * ```
 */
export function checkExpectedShapes(checkpoint: Checkpoint, expected: Map<string, number[]>): void {
  const wrong: string[] = [];
  for (const [name, shape] of expected) {
    const tensor = checkpoint.tensors.get(name);
    if (!tensor) continue;
    const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const same = tensor.shape.length === shape.length &&
      tensor.shape.every((d, i) => d === shape[i]);
    const scalar = shape.length <= 1 && tensor.shape.length <= 1 &&
      numel(shape) === numel(tensor.shape);
    if (!same && !scalar) wrong.push(`${name} [${tensor.shape}] (expected [${shape}])`);
  }
  if (wrong.length > 0) {
    throw new InputError(
      `${wrong.length} tensor(s) do not have the architecture's shape: ${
        wrong.slice(0, 10).join(", ")
      }${wrong.length > 10 ? ", ..." : ""}`,
      { file: checkpoint.path },
    );
  }
}
