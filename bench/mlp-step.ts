/**
 * The peers' MLP-block training step (../shared/peers/README.md) written with peftgraph's API,
 * timed next to the peers in one run: X [512, 128] (B=32, T=16, d=128), hidden 512,
 * y = X + GELU_tanh(LN(X) W1 + b1) W2 + b2 (LN without affine, eps 1e-5), loss = mean(y^2),
 * plain SGD lr 0.5, every step awaits its loss. Same deterministic init as the peers (their
 * common.mjs), so the first 5 losses are checked against their float64 PyTorch reference (1e-3
 * relative). steps/s = median of blocks of ~1 s; peftgraph runs before and after the peers and
 * its row pools both. Needs the peers installed:
 *   cp -r ../shared/peers /tmp/peers && (cd /tmp/peers && npm ci)
 *   npx tsx bench/mlp-step.ts --peers-dir /tmp/peers [--peers tfjs-webgpu-timer,jax-webgpu-timer,jax-wasm-mt,torch] [--blocks 5]
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/runtime/device.ts';
import { profileOf } from '../src/runtime/profile.ts';
import { TrainStep } from '../src/train/train-step.ts';
import { median } from '../src/runtime/timing.ts';
import { MLP_B, MLP_D, MLP_H, MLP_T, mlpBlock } from './mlp-block.ts';
import { numberFlag } from './flags.ts';

const { values } = parseArgs({
  options: {
    'peers-dir': { type: 'string', default: '/tmp/peers' },
    peers: { type: 'string', default: 'tfjs-webgpu-timer,jax-webgpu-timer,jax-wasm-mt,torch' },
    blocks: { type: 'string', default: '5' },
  },
});
const dir = resolve(values['peers-dir']!);
const BLOCKS = numberFlag('mlp-step', 'blocks', values.blocks!, { integer: true, min: 1 });
const [B, T, D, H] = [MLP_B, MLP_T, MLP_D, MLP_H];
const BT = B * T;
const { detUniform } = (await import(pathToFileURL(join(dir, 'common.mjs')).href)) as {
  detUniform: (n: number, seed: number, scale: number) => Float32Array;
};

const b = mlpBlock();

const gpu = await acquireDevice();
const ts = await TrainStep.compile(gpu, b.g, {
  optimizer: { kind: 'sgd', momentum: 0, weightDecay: 0, clip: 0 },
  lr: 0.5,
  schedule: { kind: 'constant' },
  totalSteps: 1e9,
  plan: {},
});
const init = {
  W1: detUniform(D * H, 12, Math.sqrt(3 / D)),
  b1: detUniform(H, 13, 0.1),
  W2: detUniform(H * D, 14, Math.sqrt(3 / H)),
  b2: detUniform(D, 15, 0.1),
};
const x = detUniform(BT * D, 11, 1.0);
ts.setWeights(init);
const step = async () => (await ts.submit({ X: x }, 0)).losses.loss;
const losses: number[] = [];
for (let i = 0; i < 5; i++) losses.push(await step());

async function timeBlocks(): Promise<number[]> {
  // Steps per block calibrated to ~1 s, as the peers do.
  let n = 4;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await step();
    const s = (performance.now() - t0) / 1000;
    if (s > 0.25) {
      n = Math.max(1, Math.round(n / s));
      break;
    }
    n *= 2;
  }
  const sps: number[] = [];
  for (let k = 0; k < BLOCKS; k++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await step();
    sps.push(n / ((performance.now() - t0) / 1000));
  }
  return sps;
}

interface PeerResult {
  peer: string;
  stepsPerSec?: number;
  losses?: number[];
  api?: string;
  error?: string;
}

function child(cmd: string, argv: string[], label: string): PeerResult {
  const r = spawnSync(cmd, argv, {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 20 * 60 * 1000,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || '/tmp' },
  });
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('RESULT '));
  if (!line)
    return {
      peer: label,
      error: `exit ${r.status}: ${(r.stderr || '').split('\n').filter(Boolean).slice(-3).join(' / ')}`,
    };
  return JSON.parse(line.slice(7)) as PeerResult;
}

const pass = [`--blocks=${BLOCKS}`, '--block-seconds=1'];
const runPeer = (peer: string) =>
  peer === 'torch'
    ? child('/usr/bin/python3', ['train_step_torch.py', '--json', ...pass], peer)
    : child(process.execPath, [join(dir, 'train_step.mjs'), `--child=${peer}`, ...pass], peer);

const ours = await timeBlocks();
const peers = values.peers!.split(',').map((peer) => {
  process.stderr.write(`[mlp-step] ${peer} ...\n`);
  return runPeer(peer);
});
ours.push(...(await timeBlocks()));
const ref = child('/usr/bin/python3', ['train_step_torch.py', '--json', '--reference'], 'torch-fp64');
const relErr = (ls?: number[]) =>
  ref.losses && ls
    ? Math.max(...ls.map((l, i) => Math.abs(l - ref.losses![i]) / Math.abs(ref.losses![i])))
    : Number.NaN;

const pg = median(ours);
console.log(`adapter: ${gpu.info.description}; peers: ${dir}; ${new Date().toISOString().slice(0, 10)}`);
console.log(
  `train step (B*T=${BT}, d=${D}, hidden=${H}, SGD lr 0.5), loss awaited every step; steps/s = median of blocks of ~1 s`,
);
console.log('| implementation | steps/s | ms/step | peftgraph speed-up | losses[0..4] max rel. err vs fp64 |');
console.log('| --- | --- | --- | --- | --- |');
console.log(
  `| peftgraph (${ours.length} blocks, before and after the peers) | ${pg.toFixed(2)} | ${(1000 / pg).toFixed(1)} | 1.00x | ${relErr(losses).toExponential(2)} |`,
);
for (const r of peers) {
  if (r.error || !r.stepsPerSec) console.log(`| ${r.peer} | FAIL | | | ${r.error?.slice(0, 120)} |`);
  else
    console.log(
      `| ${r.peer} | ${r.stepsPerSec.toFixed(2)} | ${(1000 / r.stepsPerSec).toFixed(1)} | ${(pg / r.stepsPerSec).toFixed(2)}x | ${relErr(r.losses).toExponential(2)} |`,
    );
}
console.log(
  `peftgraph blocks: ${ours.map((s) => s.toFixed(1)).join(', ')}; plan: ${ts.plan.kernels.length} kernels, profile ${profileOf(gpu).isSoftware ? 'software' : 'hardware'}`,
);
ts.destroy();
gpu.destroy();
