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
