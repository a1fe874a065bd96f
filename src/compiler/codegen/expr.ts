/**
 * The WGSL renderer of kernel expressions (kernel/ir.ts): one `let` per computed value, each
 * distinct expression text computed once, loop-invariant values hoisted out of a loop, and the
 * target's way of dividing by a size (see divmod).
 */
import type { KExpr, KVar } from '../kernel/ir.ts';
import { computeType, literal, type Sizes } from './wgsl.ts';
import { elementwise } from './render.ts';

/** An index map needs a division that the lanes of a multi-element thread do not share. */
export class LaneMisaligned extends Error {}

export interface EmitHost {
  /** Element `idx` of node `buf`'s buffer in its compute type (registers the binding; half storage widens to f32, a split buffer reads through its accessor). */
  load(buf: number, idx: string): string;
  /** Where the kernel's sizes come from (uniform slots or literals). */
  sizes: Sizes;
  /** A lane's element of a buffer loaded whole as a vec4 before the lanes' loop, if it was. */
  vectorLoad?(buf: number): string | undefined;
}

/** What the views of one scope share: its lines and what was computed in them. */
interface ScopeState {
  lines: string[];
  /** Expression text -> the variable holding it. */
  memo: Map<string, string>;
  /** Quotients and remainders already computed, by dividend text and divisor. */
  divMemo: Map<string, [string, string]>;
  /** Lane indices `base + e` of a thread computing `width` consecutive elements, base divided in `scope`. */
  lanes: Map<string, { base: string; e: string; width: number; scope: Emitter }>;
  /** Values of the lanes' enclosing scope (quotients of their base): divided there too. */
  invariant: Map<string, Emitter>;
  n: number;
}

export class Emitter {
  /** Rendered nodes, by expression id. */
  private readonly nodes = new Map<number, string>();

  constructor(
    private readonly host: EmitHost,
    /** How each index variable is spelled in this view. */
    private readonly vars: Partial<Record<KVar, string>>,
    private readonly indent = '  ',
    /** Variable prefix, distinct per scope so nested scopes do not shadow each other. */
    private readonly prefix = 'v',
    /** The enclosing scope, and the variables this scope adds to it: what uses none is hoisted. */
    private readonly outer?: { emitter: Emitter; scopeVars: KVar[] },
    private readonly state: ScopeState = {
      lines: [],
      memo: new Map(),
      divMemo: new Map(),
      lanes: new Map(),
      invariant: new Map(),
      n: 0,
    },
  ) {}

  /** The scope's lines so far, removed from it (a scope flushed before each loop it precedes). */
  take(): string {
    return this.state.lines.splice(0).join('\n');
  }

  get body(): string {
    return this.state.lines.join('\n');
  }

  /**
   * Declares `x` the index `base + e` of lane e (a loop variable, e < width) of a thread that
   * computes `width` consecutive elements from `base` (a multiple of width): its coordinates come
   * from base's, divided once in the enclosing `scope`, with e added to the last; a division by a
   * size that is not a multiple of width throws LaneMisaligned.
   */
  lane(x: string, base: string, e: string, width: number, scope: Emitter): this {
    this.state.lanes.set(x, { base, e, width, scope });
    return this;
  }

  /** A `let` of `expr` in this scope (one per distinct expression), returned by name. */
  hoist(expr: string): string {
    return this.emit(expr);
  }

  private emit(expr: string, type?: string): string {
    const s = this.state;
    const hit = s.memo.get(expr);
    if (hit) return hit;
    const v = `${this.prefix}${s.n++}`;
    s.lines.push(`${this.indent}let ${v}${type ? `: ${type}` : ''} = ${expr};`);
    s.memo.set(expr, v);
    return v;
  }

  /**
   * `x / d` and `x % d` for x < bound. With sizes in a uniform the divisor is not a constant the
   * shader compiler can turn into a multiply, and a vector integer division is a loop of scalar
   * ones on a CPU: below 2^24 the quotient comes from an f32 reciprocal, corrected to exact
   * (divmod_u24 in kernels/prelude.wgsl).
   */
  private divmod(x: string, d: number, bound: number): [string, string] {
    const st = this.state;
    const key = `${x}|${d}`;
    let qr = st.divMemo.get(key);
    if (qr) return qr;
    const lane = st.lanes.get(x);
    const s = this.host.sizes;
    const outer = st.invariant.get(x);
    if (lane) {
      // base is a multiple of width and so is d: base + e has base's quotient, remainder + e.
      if (d % lane.width !== 0) throw new LaneMisaligned(`lane index ${x} divided by ${d}`);
      const [q, r] = lane.scope.divmod(lane.base, d, bound);
      st.invariant.set(q, lane.scope);
      qr = [q, this.emit(`${r} + ${lane.e}`)];
    } else if (outer) {
      // The same for every lane: divided once, before the lanes' loop.
      qr = outer.divmod(x, d, bound);
      for (const v of qr) st.invariant.set(v, outer);
    } else if (s.mode === 'inline') qr = [this.emit(`${x} / ${d}u`), this.emit(`${x} % ${d}u`)];
    else if (bound > 2 ** 24) {
      const du = this.emit(s.index(d));
      qr = [this.emit(`${x} / ${du}`), this.emit(`${x} % ${du}`)];
    } else {
      const t = this.emit(`divmod_u24(${x}, ${s.index(d)}, ${s.rcp(d)})`);
      qr = [`${t}.x`, `${t}.y`];
    }
    st.divMemo.set(key, qr);
    return qr;
  }

  /** A WGSL expression (a variable, a literal or a short inline term) for `e`. */
  expr(e: KExpr): string {
    if (this.outer && !this.outer.scopeVars.some((v) => e.deps.has(v))) return this.outer.emitter.expr(e);
    let v = this.nodes.get(e.id);
    if (v === undefined) {
      v = this.render(e);
      this.nodes.set(e.id, v);
    }
    return v;
  }

  private render(e: KExpr): string {
    const a = e.args.map((x) => this.expr(x));
    const u = (n: number) => this.host.sizes.index(n);
    switch (e.op) {
      case 'var': {
        const v = this.vars[e.name];
        if (v === undefined) throw new Error(`codegen: index variable ${e.name} is not defined in this kernel`);
        return v;
      }
      case 'size':
        return u(e.n);
      case 'const':
        return literal(e.value, e.dtype);
      case 'add':
        return this.emit(a.join(' + '));
      case 'mul':
        return `${a[0]} * ${a[1]}`;
      case 'div':
        return this.divmod(a[0], e.d, e.bound)[0];
      case 'mod':
        return this.divmod(a[0], e.d, e.bound)[1];
      case 'clampSub':
        return `min(max(${a[0]}, ${u(e.lo)}) - ${u(e.lo)}, ${u(e.n)} - 1u)`;
      case 'inRange':
        return `(${a[0]} >= ${u(e.lo)} && ${a[0]} < ${u(e.lo)} + ${u(e.n)})`;
      case 'below':
        return `${a[0]} < ${u(e.n)}`;
      case 'and':
        return a.join(' && ');
      case 'rowOf':
        return this.emit(`u32(clamp(i32(${a[0]}), 0i, i32(${u(e.rows)}) - 1i))`);
      case 'load': {
        const lane = this.host.vectorLoad?.(e.buf);
        if (lane) return lane;
        return this.emit(this.host.load(e.buf, a[0]));
      }
      case 'math':
        return this.emit(elementwise(e.name, a, e.attrs));
      case 'cast':
        return this.emit(`${computeType(e.dtype)}(${a[0]})`);
      case 'select':
        return this.emit(`select(${a[2]}, ${a[1]}, ${a[0]})`);
      case 'uniform':
        return this.emit(`uniform_at(${a[0]}, ${u(e.salt)}, ${a[1]})`);
      case 'randint': {
        const high = this.emit(u(e.high));
        return this.emit(`min(i32(floor(${a[0]} * f32(${high}))), i32(${high}) - 1i)`);
      }
    }
  }
}
