/**
 * Captions tokenized as the MS COCO caption evaluation tokenizes them before scoring: its
 * tokenizer runs Stanford CoreNLP's PTBTokenizer (lower-casing, one sentence per line), then
 * drops the punctuation tokens ('' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;). CoreNLP is
 * Java and not a dependency here; these are the PTB rules that matter for English captions:
 * - punctuation is split off words: , ; : ? ! " ( ) [ ] { }, and a final period (not the dots
 *   of an abbreviation such as u.s., or of a number such as 2.5);
 * - contractions split as PTB splits them: do n't, it 's, they 're, we 've, i 'll, he 'd, i 'm,
 *   and can not, gon na, wan na;
 * - a hyphenated word stays one token (t-shirt); a dash standing alone is punctuation.
 * What differs from CoreNLP in rarer cases (URLs, emoticons, currency) is a documented limit.
 */

/** The tokens the COCO evaluation removes after tokenizing. */
const PUNCTUATION = new Set([
  "''",
  "'",
  '``',
  '`',
  '-lrb-',
  '-rrb-',
  '-lcb-',
  '-rcb-',
  '.',
  '?',
  '!',
  ',',
  ':',
  '-',
  '--',
  '...',
  ';',
]);

/** Words PTB splits in two (cannot -> can not). */
const SPLIT_WORDS: Record<string, [string, string]> = {
  cannot: ['can', 'not'],
  gonna: ['gon', 'na'],
  gotta: ['got', 'ta'],
  wanna: ['wan', 'na'],
};

/** A word's tokens: contractions split off its end, as PTB does. */
function splitWord(w: string): string[] {
  if (SPLIT_WORDS[w]) return [...SPLIT_WORDS[w]];
  const nt = /^(.+)(n't)$/.exec(w);
  if (nt) return [nt[1], nt[2]];
  const clitic = /^(.+?)('s|'re|'ve|'ll|'d|'m)$/.exec(w);
  if (clitic && /[a-z0-9]$/.test(clitic[1])) return [clitic[1], clitic[2]];
  return [w];
}

/** A period at the end of a word is its own token unless the word is an abbreviation (u.s., e.g.) or a number. */
function splitPeriod(w: string): string[] {
  if (w === '...' || w === '.') return [w];
  const dots = /^(.*?)(\.{2,})$/.exec(w);
  if (dots) return [...splitPeriod(dots[1]), dots[2].length >= 3 ? '...' : '.'].filter(Boolean);
  if (!w.endsWith('.')) return [w];
  const stem = w.slice(0, -1);
  if (/^([a-z]\.)+[a-z]$/.test(stem) || /^[a-z]$/.test(stem)) return [w];
  return [stem, '.'];
}

/** PTB tokens of `text`, lower-cased, punctuation tokens removed. */
export function ptbTokenize(text: string): string[] {
  const spaced = text
    .toLowerCase()
    // Typographic quotes as CoreNLP reads them: double ones are quotes, single ones apostrophes.
    .replace(/[\u201c\u201d\u201e\u00ab\u00bb]/g, '"')
    .replace(/[\u2018\u2019\u201a]/g, "'")
    // Brackets, quotes and the marks PTB always splits off become their own tokens.
    .replace(/[()[\]{}"]/g, ' ')
    // A comma or colon between digits is part of a number (1,000 and 10:30 stay whole).
    .replace(/([;?!])/g, ' $1 ')
    .replace(/(?<!\d)([,:])|([,:])(?!\d)/g, ' $1$2 ')
    // Single quotes opening or closing a word (a plural possessive's too: dogs' -> dogs ').
    .replace(/(^|\s)'(?=\S)/g, '$1 ')
    .replace(/(\S)'(?=\s|$)/g, '$1 ')
    // A dash between spaces, or two or more dashes, is punctuation.
    .replace(/--+/g, ' -- ')
    .replace(/(^|\s)-(\s|$)/g, ' ');
  const out: string[] = [];
  for (const raw of spaced.split(/\s+/)) {
    if (!raw) continue;
    for (const p of splitPeriod(raw)) for (const t of splitWord(p)) if (t && !PUNCTUATION.has(t)) out.push(t);
  }
  return out;
}
