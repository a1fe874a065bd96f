/** A scene's pixels ([0, 1], CANVAS x CANVAS, one channel) as the PNG file the examples ship. */
import sharp from 'sharp';
import { CANVAS } from '../../bench/vqa/mnist-vqa.ts';

export async function writeScene(file: string, image: ArrayLike<number>): Promise<void> {
  const px = Buffer.from(Array.from(image, (v) => Math.round(v * 255)));
  await sharp(px, { raw: { width: CANVAS, height: CANVAS, channels: 1 } }).png().toFile(file);
}
