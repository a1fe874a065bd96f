/** What each generated shader carries: only the helpers it calls, and its sizes in a uniform. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/compiler/builder.ts';
import { dropout } from '../../src/compiler/composites.ts';
import { helpersFor } from '../../src/compiler/codegen/helpers.ts';
import { compilePlan, PORTABLE_PROFILE } from '../../src/compiler/plan.ts';
import { template } from '../../src/compiler/codegen/template.ts';
import { combine, elementwise } from '../../src/compiler/codegen/render.ts';
import { allOps } from '../../src/compiler/ops/index.ts';
import { BINARY_OPS, UNARY_OPS } from '../../src/compiler/ops/elementwise.ts';

function graph(withDropout: boolean) {
  const b = new Builder();
  const h = b
    .input('x', [4, 16])
    .matmul(b.input('w', [16, 8]))
    .gelu();
  b.output('y', withDropout ? dropout(b, h, 0.1, b.input('seed', [], 'u32')) : h.add(1));
  b.output('s', h.sigmoid());
  return b.g;
}

const defined = (wgsl: string) =>
  [...wgsl.matchAll(/^fn ([a-z_0-9]+)\(/gm)].map((m) => m[1]).filter((f) => f !== 'main');

describe('generated shaders', () => {
  it('carry the helpers they call and what those call, nothing else', () => {
    expect(defined(helpersFor('let y = gelu_f32(x);'))).toEqual(['tanh_f32', 'gelu_f32']);
    expect(defined(helpersFor('let u = uniform_at(s, 3u, i);'))).toEqual(['pcg_hash', 'uniform_at']);
    expect(helpersFor('let y = x + 1.0;')).toBe('');
    // Every helper the prelude defines is found by the splitter (none lost to a comment).
    expect(
      defined(
        helpersFor(
          defined(template('prelude'))
            .map((f) => `${f}(`)
            .join(' '),
        ),
      ),
    ).toEqual(defined(template('prelude')));
    for (const withDropout of [false, true]) {
      const plan = compilePlan(graph(withDropout), PORTABLE_PROFILE);
      for (const k of plan.kernels) {
        const own = k.wgsl.slice(k.wgsl.indexOf('@compute'));
        // Each helper defined is called by the kernel's own code or by another helper it carries.
        for (const f of defined(k.wgsl)) expect(k.wgsl.split(`${f}(`).length - 1, `${k.name}: ${f}`).toBeGreaterThan(1);
        expect(defined(k.wgsl).sort()).toEqual(defined(helpersFor(own)).sort());
      }
      expect(plan.kernels.some((k) => k.wgsl.includes('fn pcg_hash'))).toBe(withDropout);
      expect(plan.kernels.filter((k) => k.wgsl.includes('fn tanh_f32')).length).toBe(1);
    }
  });

  it('declare a sizes uniform as long as their sizes, or none with sizes inline', () => {
    const g = graph(true);
    for (const k of compilePlan(g, PORTABLE_PROFILE).kernels) {
      expect(k.sizes.length, k.name).toBeGreaterThan(0);
      expect(k.wgsl).toContain(`var<uniform> sz: Sizes;`);
      expect(k.wgsl).toContain(`array<vec4<u32>, ${Math.ceil(k.sizes.length / 4)}>`);
      const used = new Set(
        [...k.wgsl.matchAll(/sz\.v\[(\d+)\]\.([xyzw])/g)].map((m) => 4 * Number(m[1]) + 'xyzw'.indexOf(m[2])),
      );
      expect([...used].sort((a, b) => a - b)).toEqual(k.sizes.map((_, i) => i));
    }
    for (const k of compilePlan(g, PORTABLE_PROFILE, { sizes: 'inline' }).kernels) {
      expect(k.sizes).toEqual([]);
      expect(k.wgsl).not.toContain('var<uniform>');
    }
  });
});

describe('the WGSL renderer', () => {
  it('spells every elementwise op and every reduction of the op table', () => {
    const ew = allOps().filter((d) => ['unary', 'binary', 'where', 'cast'].includes(d.kind));
    expect(
      ew
        .filter((d) => d.kind === 'unary')
        .map((d) => d.name)
        .sort(),
    ).toEqual([...UNARY_OPS].sort());
    expect(
      ew
        .filter((d) => d.kind === 'binary')
        .map((d) => d.name)
        .sort(),
    ).toEqual([...BINARY_OPS].sort());
    for (const d of ew) expect(elementwise(d.name, ['a', 'b', 'c'], { dtype: 'f32' }), d.name).toMatch(/\ba\b/);
    // Reductions carry their combine step and identity in the op table; none is special-cased by name.
    for (const d of allOps().filter((o) => o.kind === 'reduce')) {
      expect(d.reduce, d.name).toBeDefined();
      expect(combine(d.reduce!, 'acc', 'v')).toMatch(/acc.*v/);
    }
  });
});
