#!/usr/bin/env node
// An installed package runs its build (dist/). A source checkout (src/ present, no build to drift
// from the source) runs the TypeScript through tsx. Either way a user's .ts spec or data module
// gets a TS loader when it is loaded (src/cli/load.ts).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
