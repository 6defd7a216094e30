/**
 * GLIP's test-time image pipeline: RGB -> resize (short side, long side cap; Pillow bilinear)
 * -> [0, 1] -> BGR x 255 -> (x - mean) / std -> zero padding (after normalization) to a
 * multiple of the size divisibility. Arithmetic follows torchvision's float32 steps.
 *
 * @module
 */
import type { ImageInput } from "../engine_types.ts";
import type { PreprocessSettings } from "../bundle.ts";
import type { RgbImage } from "./decode.ts";
import { glipResizeSize, resizeBilinearPil } from "./resize.ts";

/** A preprocessed image and the sizes needed to map boxes back. */
export interface PreprocessedImage {
  /** The network input. */
  input: ImageInput;
  /** The image's size before resizing. */
  originalSize: { width: number; height: number };
  /** The resized size before padding (GLIP's `image_sizes`). */
  resizedSize: { width: number; height: number };
}

const f = Math.fround;

/**
 * Preprocesses one decoded image (mirrored after the resize with `flipHorizontal`, as training does).
 *
 * @example
 * ```ts
 * import { preprocessImage } from "./preprocess.ts";
 * const image = { width: 2, height: 1, rgb: new Uint8Array([255, 0, 0, 0, 0, 255]) };
 * const settings = { minSize: 32, maxSize: 64, sizeDivisibility: 32, pixelMean: [0, 0, 0] as [number, number, number], pixelStd: [1, 1, 1] as [number, number, number], toBgr255: true };
 * const { input, resizedSize } = preprocessImage(image, settings);
 * console.assert(resizedSize.width === 64 && resizedSize.height === 32 && input.width === 64);
 * ```
 */
export function preprocessImage(
  image: RgbImage,
  settings: PreprocessSettings,
  options: { flipHorizontal?: boolean } = {},
): PreprocessedImage {
  const size = glipResizeSize(image.width, image.height, settings.minSize, settings.maxSize);
  const rgb = size.width === image.width && size.height === image.height
    ? image.rgb
    : resizeBilinearPil(image.rgb, image.width, image.height, size.width, size.height);
  const divisor = settings.sizeDivisibility > 0 ? settings.sizeDivisibility : 1;
  const paddedHeight = Math.ceil(size.height / divisor) * divisor;
  const paddedWidth = Math.ceil(size.width / divisor) * divisor;
  const plane = paddedHeight * paddedWidth;
  const data = new Float32Array(3 * plane);
  const mean = settings.pixelMean.map(f);
  const std = settings.pixelStd.map(f);
  for (let c = 0; c < 3; c++) {
    // output channel c reads RGB channel 2 - c (BGR) when toBgr255
    const source = settings.toBgr255 ? 2 - c : c;
    const scale = settings.toBgr255 ? 255 : 1;
    for (let y = 0; y < size.height; y++) {
      for (let x = 0; x < size.width; x++) {
        // training's RandomHorizontalFlip mirrors the resized image
        const sourceX = options.flipHorizontal ? size.width - 1 - x : x;
        const unit = f(rgb[(y * size.width + sourceX) * 3 + source] / 255);
        const value = scale === 1 ? unit : f(unit * scale);
        data[c * plane + y * paddedWidth + x] = f(f(value - mean[c]) / std[c]);
      }
    }
  }
  return {
    input: { data, height: paddedHeight, width: paddedWidth },
    originalSize: { width: image.width, height: image.height },
    resizedSize: size,
  };
}
