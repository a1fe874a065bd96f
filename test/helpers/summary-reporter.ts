/**
 * Prints the plain closing line CI tooling reads:
 * "tests: N passed, N failed, N skipped[, N errors]". A test that never finished (its worker
 * died) counts as failed, not skipped.
 *
 * With PEFTGRAPH_TEST_REPORT_DIR set it also appends file start/end and test start lines to
 * progress.txt there, written synchronously, so a run killed from outside still says which
 * files were unfinished.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Reporter, SerializedError, TestCase, TestModule } from 'vitest/node';

const dir = process.env.PEFTGRAPH_TEST_REPORT_DIR;
if (dir) mkdirSync(dir, { recursive: true });

function progress(line: string): void {
  if (dir) appendFileSync(join(dir, 'progress.txt'), `${new Date().toISOString()} ${line}\n`);
}

export default class SummaryReporter implements Reporter {
  onTestModuleStart(m: TestModule): void {
    progress(`start ${m.moduleId}`);
  }

  onTestCaseReady(t: TestCase): void {
    progress(`test ${t.module.moduleId} > ${t.fullName}`);
  }

  onTestModuleEnd(m: TestModule): void {
    progress(`end ${m.moduleId} ${m.state()} ${Math.round(m.diagnostic().duration)} ms`);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<SerializedError>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      const tests = [...m.children.allTests()];
      for (const t of tests) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'skipped') skipped++;
        else failed++; // 'failed', or 'pending': it never finished
      }
      if (m.state() === 'failed' && tests.length === 0) failed++; // a file that failed to load
    }
    const errs = errors.length ? `, ${errors.length} errors` : '';
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped${errs}\n`);
  }
}
