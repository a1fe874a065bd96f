import { Command } from 'commander';
import { doctor } from './doctor.ts';
import { trainCommand } from './train.ts';

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

program
  .command('train')
  .description('train a spec (.ts module with a default export, or .json) on a data module')
  .argument('<spec>', 'model spec: a .ts module exporting vl.model(...), or a .json ModelSpec')
  .requiredOption('--data <module>', 'data module exporting ({ seed }) => ({ train, dev?, test? })')
  .option('--epochs <n>', 'epochs', '10')
  .option('--batch <n>', 'batch size', '16')
  .option('--lr <x>', 'peak learning rate', '5e-3')
  .option('--seed <n>', 'seed (data order, init, dropout, expert routing)', '42')
  .option('--eval-every <n>', 'evaluate on dev every n epochs', '1')
  .option('--patience <n>', 'early stopping patience in evaluations (0: off)', '0')
  .option('--optimizer <name>', 'adamw | sgd', 'adamw')
  .option('--weight-decay <x>', 'decoupled weight decay (not on biases/norms)', '0.01')
  .option('--clip <x>', 'global gradient-norm clip (0: off)', '5')
  .option('--schedule <name>', 'linear | cosine | constant', 'linear')
  .option('--warmup <frac>', 'warmup fraction of all steps', '0.05')
  .option('--out <dir>', 'output directory', 'runs/latest')
  .option('--resume <checkpoint>', 'resume exactly from a last.safetensors')
  .action(async (spec, opts) => {
    process.exitCode = await trainCommand(spec, opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Known failures print one clear message; anything else keeps its stack for a bug report.
  const known = ['SpecError', 'CheckpointError', 'NoAdapterError', 'NonFiniteError', 'ShapeError', 'PhmShapeError'];
  const err = e as Error;
  console.error(known.includes(err.name) ? `peftgraph: ${err.message}` : err);
  process.exitCode = 1;
}
