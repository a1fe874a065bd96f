/** Data module for `peftgraph train`: the quadrants task, disjoint seeds per split. */
import { quadrants } from './quadrants.ts';

export default ({ seed }: { seed: number }) => ({
  train: quadrants(1024, seed * 3 + 1),
  dev: quadrants(256, seed * 3 + 2),
  test: quadrants(512, seed * 3 + 3),
});
