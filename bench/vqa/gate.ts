/**
 * near-routing.sh's reading of its gate runs (routing-check.ts, caption-check.ts JSONs in
 * bench/vqa/results): refuses a result made on other checkpoints than the setting names now (a
 * stale JSON would be skipped as done and would decide the gate), and with a threshold prints
 * whether full finetuning's ceiling at its best-dev rate reaches it: 'met' or 'not met (...)'.
 *
 *   npx tsx bench/vqa/gate.ts routing near-routing 0.85   # or 'none': only the staleness check
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, type Setting } from './methods.ts';

export const GATE_RATES = ['3e-4', '1e-3', '3e-3'];
const RESULTS = join(import.meta.dirname, 'results');

interface GateJson {
  checkpoints: string[];
  ceiling: { dev: number; lr: number; overall?: number; cider?: number };
}

const [check, setting, threshold] = process.argv.slice(2);
if (!['routing', 'caption'].includes(check)) throw new Error(`gate: check '${check}' (valid: routing, caption)`);
const def = SETTINGS[setting as Setting];
if (!def) throw new Error(`gate: setting '${setting}' (valid: ${Object.keys(SETTINGS).join(', ')})`);
const gate = threshold === 'none' ? null : Number(threshold);
if (gate !== null && !(gate >= 0 && Number.isFinite(gate)))
  throw new Error(`gate: threshold '${threshold}' (a number, or none)`);

const read = (method: string, lr: string): GateJson | null => {
  const path = join(RESULTS, `${check}-check-${method}-lr${lr}.json`);
  if (!existsSync(path)) return null;
  const r = JSON.parse(readFileSync(path, 'utf8')) as GateJson;
  if (r.checkpoints?.join(',') !== def.files.join(','))
    throw new Error(
      `gate: ${path} was made on ${r.checkpoints?.join(', ') ?? 'unnamed checkpoints'}; '${setting}' reads ${def.files.join(', ')} now: move it aside (as -vision1 was) and rerun`,
    );
  return r;
};
const full = GATE_RATES.map((lr) => read('full', lr));
for (const lr of GATE_RATES) read('lora-none', lr);
if (gate !== null) {
  const done = full.filter((r): r is GateJson => r !== null);
  if (done.length < GATE_RATES.length)
    throw new Error(`gate: full finetuning has ${done.length} of ${GATE_RATES.length} rates run`);
  const best = done.reduce((a, r) => (r.ceiling.dev > a.ceiling.dev ? r : a));
  const score = best.ceiling.overall ?? best.ceiling.cider ?? Number.NaN;
  console.log(score >= gate ? 'met' : `not met (best dev at lr ${best.ceiling.lr}: ${score.toFixed(3)})`);
}
