/**
 * Checkpoint readers: PyTorch `.pth` and (by extension) safetensors.
 * @module
 */
export {
  type Checkpoint,
  type CheckpointTensor,
  readPthCheckpoint,
  type TensorDtype,
} from "./pth.ts";
import { type Checkpoint, readPthCheckpoint } from "./pth.ts";

/** Opens a checkpoint by its format (detected from the file's first bytes). */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  return await readPthCheckpoint(path);
}
