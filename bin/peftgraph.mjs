#!/usr/bin/env node
// The CLI runs from TypeScript source through tsx: user specs are .ts files, so a TS loader is
// needed at run time anyway, and there is no build output to drift from the source.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
