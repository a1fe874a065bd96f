/**
 * A compiled VQA artifact as a model that answers questions about images: its bundled
 * tokenizer, image processor and answer classes turn an image and a question into the plan's
 * inputs, and the head's logits into scored answers, exactly as `peftgraph predict` does. Nothing
 * of the compiler: an app needs the artifact directory and `peftgraph/runtime`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAnswerList } from '../data/answers.ts';
import { ImageProcessor } from '../data/image.ts';
import { TextTokenizer } from '../data/tokenizer.ts';
import { Artifact, ArtifactError, BUNDLE, type Weights } from './artifact.ts';
import type { Gpu } from './device.ts';
import { answerScores } from './metrics.ts';

export interface Answer {
  answer: string;
  score: number;
}

type Task = NonNullable<Artifact['meta']['task']>;

export class VqaModel {
  private constructor(
    readonly artifact: Artifact,
    private readonly task: Task,
    readonly tokenizer: TextTokenizer,
    readonly processor: ImageProcessor,
    readonly answers: readonly string[],
  ) {}

  /**
   * Loads a VQA artifact compiled with its inputs bundled (`peftgraph compile --adapter <run>`):
   * weights from the artifact unless `weights` (a safetensors path or a record) replaces them.
   */
  static async load(gpu: Gpu, dir: string | URL, o: { weights?: Weights | string } = {}): Promise<VqaModel> {
    const root = typeof dir === 'string' ? dir : fileURLToPath(dir);
    const artifact = await Artifact.load(gpu, root, o.weights);
    try {
      const task = artifact.meta.task;
      if (!task || artifact.meta.mode !== 'infer') throw new ArtifactError(root, 'not a VQA inference artifact (a classifier head over vision and text towers, compiled with --mode infer)');
      const need = { 'the tokenizer (tokenizer/)': `${BUNDLE.tokenizer}/tokenizer.json`, 'the answer classes (answers.json)': BUNDLE.answers };
      const missing = Object.entries(need).filter(([, f]) => !artifact.meta.bundle.includes(f));
      if (missing.length)
        throw new ArtifactError(root, `bundles no ${missing.map(([w]) => w).join(' and no ')}: compile it with --adapter <run directory> (or --answers) from a spec whose towers read HF directories`);
      const tokenizer = TextTokenizer.fromDir(join(root, BUNDLE.tokenizer));
      const processorDir = join(root, BUNDLE.processor);
      // No processor bundled: the spec had none either, and the defaults sized to the model apply.
      const processor = existsSync(processorDir) ? ImageProcessor.fromDir(processorDir, task.channels, task.image) : ImageProcessor.defaults(task.channels, task.image);
      const answers = readAnswerList(join(root, BUNDLE.answers), task.answers);
      return new VqaModel(artifact, task, tokenizer, processor, answers);
    } catch (e) {
      artifact.destroy();
      throw e;
    }
  }

  /** The top answers to `question` about `image` (a file path, or the file's bytes), best first. */
  async predict(image: string | Uint8Array, question: string, o: { top?: number } = {}): Promise<Answer[]> {
    const { ids, mask } = this.tokenizer.encode(question, this.task.maxLen);
    const pixels = await this.processor.load(image);
    const want = this.artifact.meta.plans.at(-1)!.plan.inputs;
    const feed = Object.fromEntries(Object.entries({ image: pixels, tokens: ids, mask }).filter(([k]) => want[k]));
    const out = await this.artifact.run(feed);
    return answerScores(out.logits, this.task.loss)
      .map((score, i) => ({ answer: this.answers[i], score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, Math.max(1, o.top ?? 5));
  }

  destroy(): void {
    this.artifact.destroy();
  }
}

/** `VqaModel.load`: a bundled VQA artifact, ready to `predict(image, question)`. */
export const loadModel = VqaModel.load;
