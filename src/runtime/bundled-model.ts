/**
 * A compiled inference artifact with its inputs bundled, as a model that answers questions about
 * images (a VQA classifier) or captions them (a decoder LM): the bundled tokenizer, image
 * processor and answer classes turn an image and a question into the plan's inputs, and the
 * logits into scored answers or a greedy caption, as `peftgraph predict` does. Nothing of the
 * compiler: an app needs the artifact directory and `peftgraph/runtime`.
 */
import { answerList, rankAnswers } from '../data/answers.ts';
import { ImageProcessor } from '../data/image.ts';
import { TextTokenizer } from '../data/tokenizer.ts';
import { Artifact, ArtifactError, artifactSource, BUNDLE, type Weights } from './artifact.ts';
import { parseJson } from './file-limits.ts';
import { host } from './host.ts';
import type { ArtifactSource } from './host-types.ts';
import type { Gpu } from './device.ts';
import { captionImage, type Caption } from './caption.ts';
import { answerScores } from './metrics.ts';

export interface Answer {
  answer: string;
  score: number;
}

export type Task = NonNullable<Artifact['meta']['task']>;

/** What a model answering from its artifact alone needs bundled and `meta` lacks, each named for a reader. */
export function missingBundle(meta: Artifact['meta']): string[] {
  const need: Record<string, string> = {
    [`${BUNDLE.tokenizer}/tokenizer.json`]: 'the tokenizer (tokenizer/tokenizer.json)',
  };
  if (meta.task?.kind === 'vqa') need[BUNDLE.answers] = 'the answer classes (answers.json)';
  return Object.entries(need)
    .filter(([f]) => !meta.bundle.includes(f))
    .map(([, what]) => what);
}

export class BundledModel {
  private constructor(
    readonly artifact: Artifact,
    readonly task: Task,
    readonly tokenizer: TextTokenizer,
    readonly processor: ImageProcessor,
    /** The answer classes in head order (a VQA model). */
    readonly answers: readonly string[],
  ) {}

  /**
   * Loads an inference artifact compiled with its inputs bundled (`peftgraph compile --adapter
   * <run>`): weights from the artifact unless `weights` (a safetensors path or a record) replaces them.
   */
  static async load(
    gpu: Gpu,
    where: string | URL | ArtifactSource,
    o: { weights?: Weights | string } = {},
  ): Promise<BundledModel> {
    const source = artifactSource(where);
    const root = source.name;
    options(root, 'loadModel', o, ['weights']);
    if (o.weights === null)
      throw new ArtifactError(root, 'loadModel: weights is null; leave it out for the bundled weights');
    const artifact = await Artifact.load(gpu, source, o.weights);
    try {
      const task = artifact.meta.task;
      if (!task || artifact.meta.mode !== 'infer')
        throw new ArtifactError(
          root,
          'not an inference artifact of a VQA classifier or a captioning LM (vision and text towers, compiled with --mode infer)',
        );
      const missing = missingBundle(artifact.meta);
      if (missing.length)
        throw new ArtifactError(
          root,
          `does not bundle ${missing.join(' or ')}: compile it with --adapter <run directory> (or --answers) from a spec whose towers read HF directories`,
        );
      // The bundle was read and hashed at load: its files come from memory, in node and in a browser.
      const name = (f: string) => host.join(artifact.root, f);
      const json = (f: string) => {
        const bytes = artifact.bundled.get(f);
        return bytes && parseJson(new TextDecoder().decode(bytes), name(f));
      };
      const tok = (f: string) => json(`${BUNDLE.tokenizer}/${f}`);
      const tokenizer = TextTokenizer.fromFiles(
        {
          'tokenizer.json': tok('tokenizer.json'),
          'tokenizer_config.json': tok('tokenizer_config.json'),
          'config.json': tok('config.json'),
        },
        name(BUNDLE.tokenizer),
      );
      const config = json(`${BUNDLE.processor}/preprocessor_config.json`);
      // No processor bundled: the spec had none either, and the defaults sized to the model apply.
      const processor =
        config === undefined
          ? ImageProcessor.defaults(task.channels, task.image)
          : ImageProcessor.fromConfig(
              config,
              task.channels,
              task.image,
              name(`${BUNDLE.processor}/preprocessor_config.json`),
            );
      const answers = task.kind === 'vqa' ? answerList(json(BUNDLE.answers), name(BUNDLE.answers), task.answers) : [];
      return new BundledModel(artifact, task, tokenizer, processor, answers);
    } catch (e) {
      artifact.destroy();
      throw e;
    }
  }

  /** A VQA model's top answers to `question` about `image` (a file path, or the file's bytes), best first. */
  async predict(image: string | Uint8Array, question: string, o: { top?: number } = {}): Promise<Answer[]> {
    const task = this.task;
    if (task.kind !== 'vqa')
      throw new ArtifactError(
        this.artifact.root,
        'a captioning model: call caption(image), not predict(image, question)',
      );
    options(this.artifact.root, 'predict', o, ['top']);
    if (typeof question !== 'string' || !question.trim())
      throw new ArtifactError(
        this.artifact.root,
        `predict: the question is ${JSON.stringify(question)}; ask one (training refuses empty questions too)`,
      );
    if (o.top !== undefined && !(Number.isInteger(o.top) && o.top >= 1))
      throw new ArtifactError(this.artifact.root, `predict: top is ${o.top}; it takes a whole number >= 1`);
    const { ids, mask } = this.tokenizer.encode(question, task.maxLen);
    const logits = await this.logits(await this.processor.load(image), ids, mask);
    return rankAnswers(answerScores(logits, task.loss), this.answers, o.top ?? 5);
  }

  /**
   * A captioning model's caption of `image`: beam search over the KV cache, its width as
   * compiled (`compile --beam`, 3 by default; 1 decodes greedily), continuing `prompt` when given.
   */
  async caption(image: string | Uint8Array, o: { prompt?: string; lengthPenalty?: number } = {}): Promise<Caption> {
    const task = this.task;
    if (task.kind !== 'caption')
      throw new ArtifactError(this.artifact.root, 'a VQA model: call predict(image, question), not caption(image)');
    options(this.artifact.root, 'caption', o, ['prompt', 'lengthPenalty']);
    if (task.encoder && o.prompt !== undefined)
      throw new ArtifactError(
        this.artifact.root,
        "caption: an encoder-decoder's decoder starts from its start id; it takes no prompt",
      );
    const pixels = await this.processor.load(image);
    // An encoder-decoder's encoder reads the image and an empty text (the tokenizer's template), as training did.
    const text = task.encoder && this.tokenizer.encode('', task.encoder.maxLen);
    return captionImage(
      await this.artifact.decoder(),
      this.tokenizer,
      text ? { image: pixels, tokens: text.ids, mask: text.mask } : { image: pixels },
      { prefixed: task.prefixed, ...o },
    );
  }

  private async logits(image: Float32Array, tokens: Int32Array, mask: Float32Array): Promise<ArrayLike<number>> {
    const want = this.artifact.meta.plans.at(-1)!.plan.inputs;
    const feed = Object.fromEntries(Object.entries({ image, tokens, mask }).filter(([k]) => want[k]));
    return (await this.artifact.run(feed)).logits;
  }

  destroy(): void {
    this.artifact.destroy();
  }
}

/** An options object of a public call: anything but the named options is refused, never ignored. */
function options(root: string, call: string, o: unknown, valid: string[]): void {
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new ArtifactError(
      root,
      `${call}: options must be an object { ${valid.join(', ')} }, got ${JSON.stringify(o)}`,
    );
  const unknown = Object.keys(o).filter((k) => !valid.includes(k));
  if (unknown.length)
    throw new ArtifactError(
      root,
      `${call}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; valid: ${valid.join(', ')}`,
    );
}

/** `BundledModel.load`: a bundled artifact, ready to `predict(image, question)` or `caption(image)`. */
export const loadModel = BundledModel.load;
