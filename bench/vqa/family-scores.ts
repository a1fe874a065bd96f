/** Held-out VQA scores per question family, for any benchmark model (families.ts, ceiling.ts). */
import type { Evaluator } from '../../src/train/trainer.ts';
import { argmax } from '../../src/runtime/metrics.ts';
import { answersEos, generatedScore } from '../../src/train/generate.ts';
import { ANSWERS, type MnistVqaSet } from './mnist-vqa.ts';

/**
 * Each question's VQA score, grouped by family: of the classifier's argmax answer, or, for a set
 * with answers (the encoder-decoder's, flavor.ts 't5'), of the answer the decoder writes.
 */
export async function familyScores(ev: Evaluator, set: MnistVqaSet): Promise<Map<string, number[]>> {
  const each: number[] = [];
  const answers = set.answers;
  if (answers)
    (await ev.generate(set, answers.start, answersEos(answers, 'family scores'))).forEach((g, i) =>
      each.push(generatedScore(g, answers, i).score),
    );
  else
    for await (const { out, start, valid } of ev.batches(set, ['logits']))
      for (let b = 0; b < valid; b++)
        each.push(set.examples[start + b].targets[argmax(out.logits, b * ANSWERS.length, ANSWERS.length)]);
  const out = new Map<string, number[]>();
  each.forEach((x, i) => out.set(set.questions[i].family, [...(out.get(set.questions[i].family) ?? []), x]));
  return out;
}
