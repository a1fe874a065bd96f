/**
 * A tiny VQAv2-format sample for the runner's end-to-end test (test/bench/vqav2.test.ts): the
 * first MNIST-VQA scenes of the example's files as COCO-named JPEGs, their questions and 10
 * answers each in VQAv2's questions and annotations files, a train split (32 questions) and a
 * val split (8). Run: npx tsx bench/vqav2/make-fixture.ts
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const ROOT = join(import.meta.dirname, '..', '..');
const EX = join(ROOT, 'examples', 'mnist-vqa');
const OUT = join(ROOT, 'test', 'fixtures', 'vqav2');

async function split(name: 'train' | 'val', source: string, n: number, firstId: number): Promise<void> {
  const subtype = `${name}2014`;
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'images'), { recursive: true });
  const records = readFileSync(join(EX, source), 'utf8')
    .trim()
    .split('\n')
    .slice(0, n)
    .map((l) => JSON.parse(l) as { image: string; question: string; answers: string[] });
  const imageIds = new Map<string, number>();
  const questions = [];
  const annotations = [];
  for (const [i, r] of records.entries()) {
    if (!imageIds.has(r.image)) {
      const id = firstId + imageIds.size;
      imageIds.set(r.image, id);
      const file = `COCO_${subtype}_${String(id).padStart(12, '0')}.jpg`;
      writeFileSync(join(dir, 'images', file), await sharp(join(EX, r.image)).jpeg({ quality: 90 }).toBuffer());
    }
    const image_id = imageIds.get(r.image)!;
    const question_id = image_id * 1000 + i;
    questions.push({ image_id, question: r.question, question_id });
    annotations.push({
      question_id,
      image_id,
      question_type: 'what',
      answer_type: 'other',
      multiple_choice_answer: r.answers[0],
      answers: r.answers.map((answer, j) => ({ answer, answer_confidence: 'yes', answer_id: j + 1 })),
    });
  }
  const info = { description: 'peftgraph test sample in the VQAv2 layout (MNIST-VQA scenes)' };
  writeFileSync(
    join(dir, `v2_OpenEnded_mscoco_${subtype}_questions.json`),
    JSON.stringify({ info, task_type: 'Open-Ended', data_type: 'mscoco', data_subtype: subtype, questions }),
  );
  writeFileSync(
    join(dir, `v2_mscoco_${subtype}_annotations.json`),
    JSON.stringify({ info, data_subtype: subtype, annotations }),
  );
  console.log(`${dir}: ${questions.length} questions on ${imageIds.size} images`);
}

await split('train', 'train.jsonl', 32, 1);
await split('val', 'test.jsonl', 8, 9001);
