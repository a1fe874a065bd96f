/**
 * Seeded fuzzing of what users hand peftgraph: specs, datasets, checkpoint files. Each mutated
 * input must either work or fail with a UserError (a message about the input); any other
 * exception is a bug, and the test prints the input that caused it.
 */
import { mutator } from '../helpers/mutate.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec, type ModelSpec } from '../../src/dsl/spec.ts';
import { lowerModel } from '../../src/compiler/lower/index.ts';
import { validateDataset } from '../../src/train/validate.ts';
import { encodeSafetensors, readSafetensors, SafetensorsFile } from '../../src/runtime/safetensors.ts';
import { UserError } from '../../src/user-error.ts';
import { prng } from '../../src/runtime/init.ts';
import { peft } from '../../src/dsl/index.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

// PEFTGRAPH_FUZZ_SEED explores further locally; CI runs the fixed seed.
const r = prng(Number(process.env.PEFTGRAPH_FUZZ_SEED ?? 20261130));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const WEIRD: unknown[] = [
  -1,
  0,
  0.5,
  1e9,
  -1e9,
  NaN,
  Infinity,
  '',
  'x',
  null,
  true,
  [],
  {},
  [1, 2],
  'text.**',
  '**',
  3,
  2,
  16,
];

/** Runs `f`; a UserError or success passes, anything else fails the test naming the input. */
function clean(what: string, input: unknown, f: () => unknown): 'ok' | 'refused' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UserError) return 'refused';
    const shown = JSON.stringify(input, (_k, v) =>
      typeof v === 'number' && !Number.isFinite(v)
        ? String(v)
        : ArrayBuffer.isView(v)
          ? `${v.constructor.name}(${(v as Float32Array).length})`
          : v,
    );
    throw new Error(`${what}: ${(e as Error).name}: ${(e as Error).message}\n  input: ${shown.slice(0, 600)}`);
  }
}

const mutate = mutator(r, WEIRD);

const base = (): ModelSpec =>
  tinyVl()
    .freeze('**')
    .insert(
      peft.lora({ at: 'text.layers.*.attn.{q,v}', rank: 2, routing: 'inner' }),
      peft.mixphm({ at: 'text.layers.*.ffn', experts: 2, bottleneck: 4, kron: 2, rank: 2 }),
      peft.adapter({ at: 'vision.layers.0.ffn', bottleneck: 2 }),
    )
    .regularize().spec;

describe('fuzz', () => {
  it('400 mutated specs: each lowers or is refused with a message', () => {
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < 400; i++) {
      let spec: unknown = base();
      const n = 1 + Math.floor(r() * 3);
      for (let j = 0; j < n; j++) spec = mutate(spec);
      outcomes[
        clean(`spec ${i}`, spec, () =>
          lowerModel(parseSpec(spec), { batch: 2, mode: pick(['train', 'infer'] as const) }),
        )
      ]++;
    }
    expect(outcomes.ok).toBeGreaterThan(5); // the mutations must leave some specs valid, or they test nothing but parsing
    expect(outcomes.refused).toBeGreaterThan(100);
  });

  it('300 mutated datasets: each validates or is refused with a message', () => {
    const spec = base();
    const graph = lowerModel(spec, { batch: 2, mode: 'train' }).graph;
    const good = () => ({
      image: new Float32Array(256).fill(0.5),
      tokens: Int32Array.from([1, 2, 0]),
      mask: Float32Array.from([1, 1, 0]),
      targets: Float32Array.from([1, 0, 0.3, 0, 0, 0]),
    });
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < 300; i++) {
      const examples: Record<string, unknown>[] = [good(), good(), good()];
      const e = pick(examples);
      const k = pick(['image', 'tokens', 'mask', 'targets', 'imagee', 'labels']);
      const how = Math.floor(r() * 5);
      if (how === 0) delete e[k];
      else if (how === 1) e[k] = pick(WEIRD);
      else if (how === 2) e[k] = new Float32Array(Math.floor(r() * 300));
      else if (how === 3) {
        const v = Float32Array.from((e[k] as ArrayLike<number> | undefined) ?? [1]);
        v[Math.floor(r() * v.length)] = pick([NaN, -1, 1e10, 2.5, 7, 8, 1.5]);
        e[k] = v;
      }
      const ds =
        how === 4 ? pick<unknown>([[], 'abc', { examples: [] }, { examples: 3 }, null, examples]) : { examples };
      outcomes[clean(`dataset ${i} (${k}, mutation ${how})`, ds, () => validateDataset('train', ds, graph, spec))]++;
    }
    expect(outcomes.refused).toBeGreaterThan(100);
  });

  it('200 mutated checkpoint files: each reads or is refused with a message, none hangs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-ck-'));
    const good = encodeSafetensors(
      new Map([
        ['a', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
        ['b', { shape: [4], data: Float32Array.from([7, 8, 9, 10]) }],
      ]),
      { format: 'x' },
    );
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < 200; i++) {
      let bytes = Buffer.from(good);
      const how = Math.floor(r() * 4);
      if (how === 0) bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
      else if (how === 1) for (let j = 0; j < 3; j++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      else if (how === 2) {
        // A valid-JSON header with one field made odd.
        const len = Number(bytes.readBigUInt64LE(0));
        const header = mutate(JSON.parse(bytes.subarray(8, 8 + len).toString()));
        const json = Buffer.from(JSON.stringify(header));
        const l = Buffer.alloc(8);
        l.writeBigUInt64LE(BigInt(json.length));
        bytes = Buffer.concat([l, json, bytes.subarray(8 + len)]);
      } else bytes.writeBigUInt64LE(BigInt(Math.floor(r() * 2 ** 40)), 0);
      const path = join(dir, `${i}.safetensors`);
      writeFileSync(path, bytes);
      outcomes[
        clean(`checkpoint ${i} (mutation ${how})`, bytes.toString('base64'), () => {
          readSafetensors(path);
          const f = SafetensorsFile.open(path);
          try {
            for (const k of f.tensors.keys()) f.read(k);
          } finally {
            f.close();
          }
        })
      ]++;
    }
    expect(outcomes.refused).toBeGreaterThan(100);
  });
});

describe('fuzz: CLI argument lists', () => {
  const ROOT = join(import.meta.dirname, '..', '..');
  const FLAGS = [
    '--epochs',
    '--batch',
    '--lr',
    '--seed',
    '--optimizer',
    '--schedule',
    '--warmup',
    '--clip',
    '--k',
    '--mode',
    '--split',
    '--bogus',
  ];
  const VALUES = ['1', '0', '-1', 'abc', '2.5', '1e9', 'adamw', 'sgd', 'foo', '', '/dev/zero', 'examples/nothing.ts'];

  it('12 mutated command lines: exit 0 or a one-line error, never a stack trace or a hang', () => {
    for (let i = 0; i < 12; i++) {
      const cmd = pick(['explain', 'train', 'eval', 'predict', 'compile']);
      const args = [cmd, pick(['examples/quadrants.spec.ts', 'examples/nothing.ts', 'README.md', '/dev/zero'])];
      if (cmd !== 'explain')
        args.push('--data', pick(['examples/quadrants.data.ts', 'examples/mnist-vqa', '/nonexistent']));
      if (cmd === 'eval' || cmd === 'predict')
        args.push('--checkpoint', pick(['/dev/zero', 'README.md', '/nonexistent']));
      for (let j = 0; j < 2; j++) args.push(pick(FLAGS), pick(VALUES));
      // A valid train would run for long: cap it to one epoch on the tiny example.
      if (cmd === 'train') args.push('--epochs', '1', '--out', mkdtempSync(join(tmpdir(), 'fuzz-cli-')));
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'peftgraph.mjs'), ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
      const what = `peftgraph ${args.join(' ')}`;
      expect(r.signal, `${what}: hung`).toBeNull();
      expect([0, 1], `${what}: exit ${r.status}\n${r.stderr}`).toContain(r.status);
      expect(r.stderr, what).not.toMatch(/internal error|\n\s+at /);
    }
  });
});
