/**
 * Decoding with a KV cache over two plans of a decoder LM (compiler/lower/kv-cache.ts): the
 * prefill plan runs the prefix (image and prompt) once and hands every layer's keys and values
 * to the step plan, which then runs one token per sequence over them; the caches stay in device
 * buffers that trade places with the step's updated caches (ping-pong), and beams reorder on the
 * device through the step's parent gather. Greedy and beam search. Runtime code only: training
 * compiles the plans (train/kv-generate.ts), an artifact loads them (bundled-model.ts).
 */
import { DataError } from '../data/errors.ts';
import { KV_INPUTS, isKvCache, kvName, kvNext } from '../kv-inputs.ts';
import type { Executor } from './executor.ts';
import type { WeightMap } from './half.ts';
import { argmax } from './metrics.ts';

export interface KvSettings {
  /** End-of-sequence id: a sequence that emits it is done. */
  eos: number;
  pad: number;
}

/** log softmax of one row of logits, in float64. */
function logSoftmax(z: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < z.length; i++) max = Math.max(max, z[i]);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += Math.exp(z[i] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(z, (x) => x - lse);
}

/** What the decoder needs to know of the text tower. */
export interface DecoderShape {
  /** The decoder's text positions (GPT-2's maxLen, T5's targetLen). */
  maxLen: number;
  vocab: number;
  /** The prefill inputs holding each row's prompt (default tokens and mask; T5's decoder: targetTokens and targetMask). */
  prompt?: { tokens: string; mask: string };
}

export class CachedDecoder {
  private constructor(
    readonly text: DecoderShape,
    readonly batch: number,
    readonly prefill: Executor,
    readonly step: Executor,
    /** Cache positions: the prefix's and the text's. */
    readonly length: number,
    readonly prefix: number,
  ) {}

  /** The decoder over a prefill plan and a step plan of one batch (the step trades its caches with their updates). */
  static async over(prefill: Executor, step: Executor, text: DecoderShape): Promise<CachedDecoder> {
    const cache = prefill.plan.outputs[kvName('k', 0)];
    if (!cache) throw new DataError('the prefill plan outputs no keys and values (compile it with kv: prefill)');
    const [batch, , length] = cache.shape;
    await step.pingPong(
      Object.keys(step.plan.inputs)
        .filter(isKvCache)
        .map((k) => [step.slotOf('outputs', kvNext(k)).buffer, step.rootOf(step.slotOf('inputs', k))]),
    );
    return new CachedDecoder(text, batch, prefill, step, length, length - text.maxLen);
  }

  /**
   * How many tokens a sequence may generate after a prompt of `p` tokens: one per position that
   * predicts a token. A decoder LM's text positions hold the prompt and the generated tokens, its
   * first token predicted by the prefix (GPT-2: maxLen - p, as recomputation decodes). T5's
   * decoder predicts from each of its targetLen positions, the last prediction fed nowhere:
   * targetLen - p + 1, its targetLen outputs after the start token.
   */
  maxTokens(p: number): number {
    return this.text.maxLen - p + (this.text.prompt ? 1 : 0);
  }

  setWeights(w: WeightMap): void {
    for (const ex of [this.prefill, this.step])
      for (const name of Object.keys(ex.plan.params)) {
        const v = w[name];
        if (!v) throw new Error(`KvDecoder.setWeights: no value for param '${name}'`);
        ex.setParam(name, v);
      }
  }

  /**
   * Runs the prefill plan over `inputs` (image, and the prompt inputs, `tokens`/`mask` or T5's
   * `targetTokens`/`targetMask`, holding each row's prompt,
   * all of one length `p`) and loads the step's caches from it; returns its logits and `p`.
   */
  private async prefillRun(
    inputs: Record<string, ArrayLike<number>>,
  ): Promise<{ logits: ArrayLike<number>; p: number }> {
    const { batch: B, prefix: n } = this;
    const { maxLen: L } = this.text;
    const promptMask = inputs[this.text.prompt?.mask ?? 'mask'];
    if (!promptMask)
      throw new DataError(`KV-cached generation: no '${this.text.prompt?.mask ?? 'mask'}' input holding the prompt`);
    const prompt = Array.from({ length: B }, (_, b) => {
      let p = 0;
      while (p < L && promptMask[b * L + p]) p++;
      return p;
    });
    if (new Set(prompt).size > 1)
      throw new DataError(
        `KV-cached generation: the prompts of a batch must have one length, got ${[...new Set(prompt)].join(', ')}`,
      );
    const p = prompt[0];
    if (this.text.prompt && p === 0)
      throw new DataError(
        `KV-cached generation: the decoder's '${this.text.prompt.tokens}' must start with its start id (mask 1 at position 0)`,
      );
    if (n + p === 0)
      throw new DataError('KV-cached generation needs a visual prefix or a prompt: nothing predicts the first token');
    // What the steps read of the prefill: the caches, and (per model) the routed visual feature, the
    // cross-attention keys and values and the encoder mask: every step input the prefill outputs.
    const handed = Object.keys(this.step.plan.inputs).filter((k) => this.prefill.plan.outputs[k]);
    const feed = Object.fromEntries(Object.entries(inputs).filter(([k]) => this.prefill.plan.inputs[k]));
    const out = await this.prefill.run(feed, ['logits', ...handed]);
    for (const k of handed) this.step.setInput(k, out[k]);
    return { logits: out.logits, p };
  }

  /** Row `b`'s logits for the next token after the prefill: at the last prompt (or prefix) position. */
  private firstLogits(logits: ArrayLike<number>, b: number, p: number): ArrayLike<number> {
    const V = this.text.vocab;
    const at = (b * this.length + this.prefix + p - 1) * V;
    return Array.prototype.slice.call(logits, at, at + V) as number[];
  }

  /**
   * One step: row b's token `tokens[b]` at text position t continues cache row `parents[b]`; the
   * caches trade places with their updates. Returns the logits [B, vocab] of the next token.
   */
  private async stepRun(tokens: Int32Array, t: number, parents: Int32Array): Promise<ArrayLike<number>> {
    const { batch: B, length, prefix: n } = this;
    // The new token sits at cache position n + t; it and all before it are attended.
    const mask = new Float32Array(B * length);
    for (let b = 0; b < B; b++) mask.fill(1, b * length, b * length + n + t + 1);
    const out = await this.step.run(
      {
        [KV_INPUTS.token]: tokens,
        [KV_INPUTS.position]: [t],
        [KV_INPUTS.at]: [n + t],
        [KV_INPUTS.parents]: parents,
        [KV_INPUTS.mask]: mask,
      },
      ['logits'],
    );
    this.step.swap();
    return out.logits;
  }

  /**
   * Greedy continuation of each sequence of the batch: `inputs` are the prefill plan's (image,
   * and the prompt inputs holding each sequence's prompt: empty when none, T5's start id); returns each
   * sequence's generated ids, without the end-of-sequence token.
   */
  async greedy(inputs: Record<string, ArrayLike<number>>, s: KvSettings): Promise<number[][]> {
    return (await this.greedyEnds(inputs, s)).ids;
  }

  /** greedy(), and whether each sequence ended with end-of-sequence (else it filled maxTokens). */
  async greedyEnds(
    inputs: Record<string, ArrayLike<number>>,
    s: KvSettings,
  ): Promise<{ ids: number[][]; ended: boolean[] }> {
    const B = this.batch;
    const { vocab: V } = this.text;
    const { logits, p } = await this.prefillRun(inputs);
    const max = this.maxTokens(p);
    const ids: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(false);
    const ended = new Array<boolean>(B).fill(false);
    let next = ids.map((_, b) => argmax(this.firstLogits(logits, b, p), 0, V));
    const parents = Int32Array.from({ length: B }, (_, b) => b);
    for (let t = p; ; t++) {
      next.forEach((id, b) => {
        if (done[b]) return;
        if (id === s.eos) done[b] = ended[b] = true;
        else {
          ids[b].push(id);
          // Every position that predicts a token has: the last token is fed nowhere.
          if (ids[b].length >= max) done[b] = true;
        }
      });
      if (done.every(Boolean)) break;
      const z = await this.stepRun(
        Int32Array.from(next, (id, b) => (done[b] ? s.pad : id)),
        t,
        parents,
      );
      next = ids.map((_, b) => argmax(z, b * V, V));
    }
    return { ids, ended };
  }

  /**
   * Beam search (width W) for each image of the batch; its W rows are consecutive (rows
   * i*W..i*W+W-1 hold image i, its inputs repeated). At each step every live beam's candidates
   * are its score plus each token's log-probability; the best 2W per image are taken in order: an
   * end-of-sequence among the first W finishes that beam's hypothesis, the others become the next
   * beams, their caches gathered on the device from their parents' rows. A hypothesis scores
   * sum(log p) / tokens^lengthPenalty, its tokens counting the end-of-sequence it ends with (as
   * HF's beam scorer counts them; one cut at maxTokens counts its tokens, at least 1); an image is done when it has W hypotheses no live beam can beat, or at
   * maxTokens (its live beams finish there). Returns each image's best hypothesis.
   */
  async beam(
    inputs: Record<string, ArrayLike<number>>,
    s: KvSettings & { width: number; lengthPenalty?: number },
  ): Promise<{ ids: number[]; score: number }[]> {
    const { batch: B } = this;
    const { vocab: V } = this.text;
    const W = s.width;
    if (!Number.isInteger(W) || W < 1 || B % W) throw new DataError(`beam width ${W} must divide the batch ${B}`);
    const lp = s.lengthPenalty ?? 1;
    const norm = (score: number, len: number) => score / Math.max(1, len) ** lp;
    const images = B / W;
    type Beam = { ids: number[]; score: number; row: number };
    const { logits, p } = await this.prefillRun(inputs);
    const max = this.maxTokens(p);
    let live: Beam[][] = Array.from({ length: images }, (_, i) => [{ ids: [], score: 0, row: i * W }]);
    const finished: { ids: number[]; score: number }[][] = Array.from({ length: images }, () => []);
    const done = new Array<boolean>(images).fill(false);
    let rowLogits = (row: number) => logSoftmax(this.firstLogits(logits, row, p));
    for (let t = p; ; t++) {
      const next: Beam[][] = [];
      for (let i = 0; i < images; i++) {
        if (done[i]) {
          next.push(live[i]);
          continue;
        }
        // The best 2W candidates, best first (kept by insertion: 2W is small, V x W is not).
        const cands: { beam: Beam; token: number; score: number }[] = [];
        for (const beam of live[i]) {
          const lps = rowLogits(beam.row);
          for (let v = 0; v < V; v++) {
            const score = beam.score + lps[v];
            if (cands.length === 2 * W && score <= cands[cands.length - 1].score) continue;
            let at = cands.length;
            while (at > 0 && cands[at - 1].score < score) at--;
            cands.splice(at, 0, { beam, token: v, score });
            if (cands.length > 2 * W) cands.pop();
          }
        }
        const kept: Beam[] = [];
        for (const [rank, c] of cands.entries()) {
          if (c.token === s.eos) {
            // Its length counts the end-of-sequence it ends with, as HF's beam scorer counts it.
            if (rank < W) finished[i].push({ ids: c.beam.ids, score: norm(c.score, c.beam.ids.length + 1) });
          } else if (kept.length < W) kept.push({ ids: [...c.beam.ids, c.token], score: c.score, row: c.beam.row });
          if (kept.length === W) break;
        }
        const full = (kept[0]?.ids.length ?? 0) >= max;
        if (full) for (const b of kept) finished[i].push({ ids: b.ids, score: norm(b.score, b.ids.length) });
        finished[i].sort((a, b) => b.score - a.score);
        // Done: the text is full, or W hypotheses that no live beam can beat at its length.
        const best = kept.length ? Math.max(...kept.map((b) => norm(b.score, b.ids.length))) : Number.NEGATIVE_INFINITY;
        done[i] = full || !kept.length || (finished[i].length >= W && finished[i][W - 1].score >= best);
        next.push(kept);
      }
      if (done.every(Boolean)) break;
      // Beam k of image i continues at row i*W + k, from its parent's row.
      const tokens = new Int32Array(B).fill(s.pad);
      const parents = Int32Array.from({ length: B }, (_, r) => r);
      next.forEach((beams, i) => {
        if (done[i]) return;
        beams.forEach((b, k) => {
          tokens[i * W + k] = b.ids[b.ids.length - 1];
          parents[i * W + k] = b.row;
          b.row = i * W + k;
        });
      });
      live = next;
      const z = await this.stepRun(tokens, t, parents);
      rowLogits = (row: number) => logSoftmax(Array.prototype.slice.call(z, row * V, (row + 1) * V) as number[]);
    }
    return finished.map((f) => f[0] ?? { ids: [], score: Number.NEGATIVE_INFINITY });
  }

  destroy(): void {
    this.step.destroy();
    this.prefill.destroy();
  }
}
