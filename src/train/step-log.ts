/**
 * steps.jsonl: one JSON line per training step (step, epoch, lr, grad-norm, every loss term,
 * wall milliseconds), written beside the checkpoints. Lines are appended at each epoch's end, when
 * last.safetensors is saved, so the log and the checkpoint always agree; a resumed run first drops
 * the lines at or after the step it resumes from (a crash may have left them).
 */
import { writeAtomic } from '../runtime/safetensors.ts';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StepRecord {
  step: number;
  epoch: number;
  lr: number;
  gradNorm: number;
  /** Wall time since the previous step's result (the GPU runs steps back to back). */
  ms: number;
  /** loss, loss_task and, with regularizers, loss_red and loss_rel. */
  losses: Record<string, number>;
}

export const STEP_LOG = 'steps.jsonl';

export class StepLog {
  private readonly path: string | null;

  /** `dir` null: no file (records are still passed through). `resumeStep`: keep the lines before it. */
  constructor(dir: string | null, resumeStep: number | null) {
    this.path = dir ? join(dir, STEP_LOG) : null;
    if (!this.path) return;
    const kept = resumeStep === null ? [] : readStepLog(this.path).filter((r) => r.step < resumeStep);
    writeAtomic(this.path, Buffer.from(kept.map((r) => `${JSON.stringify(r)}\n`).join('')));
  }

  append(records: StepRecord[]): void {
    if (this.path && records.length) appendFileSync(this.path, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

/** The records of a steps.jsonl (none if the file is absent); a torn last line is skipped. */
export function readStepLog(path: string): StepRecord[] {
  if (!existsSync(path)) return [];
  const out: StepRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as StepRecord);
    } catch {
      // An interrupted append leaves at most a partial last line.
    }
  }
  return out;
}
