import { Command } from 'commander';
import { doctor } from './doctor.ts';

// commander: a small, well-kept parser with subcommands, typed options and generated help.
const program = new Command();
program.name('peftgraph').description('Declarative PEFT model-graph compiler for WebGPU').version('0.1.0');

program
  .command('doctor')
  .description('print the WebGPU adapter, backend, limits and features; say whether it is a software adapter')
  .option('--backend <name>', 'Dawn backend (vulkan, null, ...); env PEFTGRAPH_BACKEND')
  .option('--adapter <name>', 'adapter name substring; env PEFTGRAPH_ADAPTER')
  .option('--all-limits', 'print every limit, not only those the compiler plans against')
  .option('--json', 'machine-readable output')
  .action(async (opts) => {
    process.exitCode = await doctor(opts);
  });

await program.parseAsync(process.argv);
