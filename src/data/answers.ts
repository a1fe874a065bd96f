/**
 * VQA answers: the official evaluation's normalization (GT-Vision-Lab/VQA, vqaEval.py:
 * processPunctuation then processDigitArticle), the answer vocabulary from training answers,
 * and soft targets min(1, #annotators who gave the answer / 3) (METHODS.md).
 */
import { DataError } from './errors.ts';
import { host } from '../runtime/host.ts';

const PUNCT = [
  ';',
  '/',
  '[',
  ']',
  '"',
  '{',
  '}',
  '(',
  ')',
  '=',
  '+',
  '\\',
  '_',
  '-',
  '>',
  '<',
  '@',
  '`',
  ',',
  '?',
  '!',
];
const NUMBERS: Record<string, string> = {
  none: '0',
  zero: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  ten: '10',
};
const ARTICLES = new Set(['a', 'an', 'the']);
// The evaluation's table: a missing apostrophe restored (and a few of its own quirks kept).
const CONTRACTIONS: Record<string, string> = Object.fromEntries(
  (
    "aint ain't|arent aren't|cant can't|couldve could've|couldnt couldn't|couldn'tve couldn't've|couldnt've couldn't've|didnt didn't|doesnt doesn't|dont don't|" +
    "hadnt hadn't|hadnt've hadn't've|hadn'tve hadn't've|hasnt hasn't|havent haven't|hed he'd|hed've he'd've|he'dve he'd've|hes he's|howd how'd|howll how'll|" +
    "hows how's|Id've I'd've|I'dve I'd've|Im I'm|Ive I've|isnt isn't|itd it'd|itd've it'd've|it'dve it'd've|itll it'll|let's let's|maam ma'am|mightnt mightn't|" +
    "mightnt've mightn't've|mightn'tve mightn't've|mightve might've|mustnt mustn't|mustve must've|neednt needn't|notve not've|oclock o'clock|oughtnt oughtn't|" +
    "ow's'at 'ow's'at|'ows'at 'ow's'at|'ow'sat 'ow's'at|shant shan't|shed've she'd've|she'dve she'd've|she's she's|shouldve should've|shouldnt shouldn't|" +
    "shouldnt've shouldn't've|shouldn'tve shouldn't've|somebody'd somebodyd|somebodyd've somebody'd've|somebody'dve somebody'd've|somebodyll somebody'll|" +
    "somebodys somebody's|someoned someone'd|someoned've someone'd've|someone'dve someone'd've|someonell someone'll|someones someone's|somethingd something'd|" +
    "somethingd've something'd've|something'dve something'd've|somethingll something'll|thats that's|thered there'd|thered've there'd've|there'dve there'd've|" +
    "therere there're|theres there's|theyd they'd|theyd've they'd've|they'dve they'd've|theyll they'll|theyre they're|theyve they've|twas 'twas|wasnt wasn't|" +
    "wed've we'd've|we'dve we'd've|weve we've|werent weren't|whatll what'll|whatre what're|whats what's|whatve what've|whens when's|whered where'd|wheres where's|" +
    "whereve where've|whod who'd|whod've who'd've|who'dve who'd've|wholl who'll|whos who's|whove who've|whyll why'll|whyre why're|whys why's|wont won't|" +
    "wouldve would've|wouldnt wouldn't|wouldnt've wouldn't've|wouldn'tve wouldn't've|yall y'all|yall'll y'all'll|y'allll y'all'll|yall'd've y'all'd've|" +
    "y'alld've y'all'd've|y'all'dve y'all'd've|youd you'd|youd've you'd've|you'dve you'd've|youll you'll|youre you're|youve you've"
  )
    .split('|')
    .map((pair) => pair.split(' ') as [string, string]),
);

/** processPunctuation: punctuation next to a space (or anywhere, in "1,000"-like text) is removed, else becomes a space; periods not before a digit go. */
function punctuation(text: string): string {
  const commaNumber = /\d,\d/.test(text);
  let out = text;
  for (const p of PUNCT)
    out = out.split(p).join(text.includes(`${p} `) || text.includes(` ${p}`) || commaNumber ? '' : ' ');
  // re.sub(..., re.UNICODE) in the original passes 32 as the count: at most 32 periods go.
  let n = 0;
  return out.replace(/\.(?!\d)/g, (m) => (n++ < 32 ? '' : m));
}

/** processDigitArticle: lowercase, number words to digits, articles dropped, contractions restored. */
function digitsArticles(text: string): string {
  return text
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => NUMBERS[w] ?? w)
    .filter((w) => !ARTICLES.has(w))
    .map((w) => CONTRACTIONS[w] ?? w)
    .join(' ');
}

/** An answer as the official VQA evaluation compares it. */
export function normalizeAnswer(answer: string): string {
  return digitsArticles(punctuation(answer.replace(/\n/g, ' ').replace(/\t/g, ' ').trim()));
}

/** The answer classes of a classifier head: the most frequent normalized training answers. */
/**
 * A class no answer maps to (a head wider than the answers the data has): `<unused i>`. No
 * normalized answer can be one (normalization removes '<' and '>'), and prediction never offers it.
 */
export function placeholderAnswer(i: number): string {
  return `<unused ${i}>`;
}

export function isPlaceholderAnswer(a: string): boolean {
  return /^<unused \d+>$/.test(a);
}

export class AnswerVocab {
  private readonly index: Map<string, number>;

  constructor(readonly answers: string[]) {
    this.index = new Map(answers.map((a, i) => [a, i]));
    if (this.index.size !== answers.length) throw new DataError('answer vocabulary: duplicate answers');
  }

  /**
   * The `size` answers given most often across the records' annotations (ties: first seen
   * first), counted after normalization.
   */
  static fromAnswers(annotations: string[][], size: number, o: { pad?: boolean } = {}): AnswerVocab {
    const counts = new Map<string, number>();
    for (const list of annotations)
      for (const a of list) counts.set(normalizeAnswer(a), (counts.get(normalizeAnswer(a)) ?? 0) + 1);
    counts.delete('');
    const ranked = [...counts.entries()].sort((x, y) => y[1] - x[1]).map(([a]) => a);
    const top = ranked.slice(0, size);
    // `pad`: a head of `size` outputs gets that many classes; those no answer reaches are placeholders.
    return new AnswerVocab(
      o.pad ? [...top, ...Array.from({ length: size - top.length }, (_, i) => placeholderAnswer(i))] : top,
    );
  }

  get size(): number {
    return this.answers.length;
  }

  indexOf(answer: string): number | undefined {
    return this.index.get(normalizeAnswer(answer));
  }

  /** Soft targets over the vocabulary: min(1, #annotators who gave the answer / 3); answers outside it count for nothing. */
  softTargets(annotations: string[]): Float32Array {
    const counts = new Map<number, number>();
    for (const a of annotations) {
      const i = this.indexOf(a);
      if (i !== undefined) counts.set(i, (counts.get(i) ?? 0) + 1);
    }
    const t = new Float32Array(this.answers.length);
    for (const [i, n] of counts) t[i] = Math.min(1, n / 3);
    return t;
  }
}

/** An answer list file (answers.json: the classes in head order), checked against a head of `classes`. */
export function readAnswerList(file: string, classes: number): string[] {
  return answerList(host.readJson(file, 'answer list'), file, classes);
}

/** An answer list's parsed JSON (`file` names it in errors), checked against a head of `classes`. */
export function answerList(answers: unknown, file: string, classes: number): string[] {
  if (!Array.isArray(answers) || answers.length !== classes || !answers.every((a) => typeof a === 'string')) {
    throw new DataError(
      `${file}: ${Array.isArray(answers) ? `${answers.length} answers` : 'no list of answers'} for a head of ${classes}`,
    );
  }
  return answers;
}

/** The `top` answers by score, best first, placeholder classes left out (they answer nothing). */
export function rankAnswers(
  scores: readonly number[],
  answers: readonly string[],
  top: number,
): { answer: string; score: number }[] {
  return scores
    .map((score, i) => ({ answer: answers[i], score }))
    .filter((a) => !isPlaceholderAnswer(a.answer))
    .sort((a, b) => b.score - a.score)
    .slice(0, Math.max(1, top));
}

/** The answer given most often (the first of those tied, in the annotators' order). */
export function mostGiven(answers: string[]): string {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  let best = answers[0];
  for (const a of answers) if (counts.get(a)! > counts.get(best)!) best = a;
  return best;
}
