import { Command } from 'commander';
import { DataError } from '../data/errors.ts';
import {
  autotuneOption,
  frozenWeightsOption,
  int,
  ints,
  noTunedKernelsOption,
  num,
  oneOf,
  tuningLine,
  tuningMode,
} from './flags.ts';
import { UserError } from '../user-error.ts';
import { doctor } from './doctor.ts';
import { loadData, loadSpec, specAndCheckpoint } from './load.ts';

/** A batch beyond any device: lowering builds per-batch constants (masks), so 1e8 would exhaust memory before any check. */
const MAX_BATCH = 65536;

// commander: a small, well-kept parser with subcommands, typed options and generated help.
const program = new Command();
program
  .name('peftgraph')
  .description('Declarative PEFT model-graph compiler for WebGPU')
  .version('0.1.0')
  .option('--debug', 'print stack traces with error messages');

program
  .command('doctor')
  .description('print the WebGPU adapter, backend, limits and features; say whether it is a software adapter')
  .option('--backend <name>', 'Dawn backend (vulkan, null, ...); env PEFTGRAPH_BACKEND')
  .option('--adapter <name>', 'adapter name substring; env PEFTGRAPH_ADAPTER')
  .option('--all-limits', 'print every limit, not only those the compiler plans against')
  .option('--json', 'machine-readable output')
  .option('--require-hardware', 'exit 2 if the adapter is a software rasterizer (for GPU CI runners)')
  .option('--verbose', "also show Dawn's native adapter-limit notices, which every command and library call hides")
  .action(async (opts) => {
    process.exitCode = await doctor(opts);
  });

program
  .command('train')
  .description('train a spec (.ts module with a default export, or .json) on VQA files or a data module')
  .argument('<spec>', 'model spec: a .ts module exporting vl.model(...), or a .json ModelSpec')
  .requiredOption(
    '--data <path>',
    'VQA records (a .jsonl file, or a directory with train.jsonl or VQAv2 files), or a data module exporting ({ seed }) => ({ train, dev?, test? })',
  )
  .option('--dev <path>', 'VQA dev records (default: dev.jsonl beside train.jsonl)')
  .option('--test <path>', 'VQA test records (default: test.jsonl beside train.jsonl)')
  .addOption(
    int(
      '--k <n>',
      'draw k training and k dev records from the training pool (METHODS.md low-resource protocol)',
      undefined,
      1,
    ),
  )
  .addOption(int('--epochs <n>', 'epochs', 10, 1))
  .addOption(int('--batch <n>', 'batch size', 16, 1, MAX_BATCH))
  .addOption(num('--lr <x>', 'peak learning rate', 5e-3, 0, Infinity, true))
  .addOption(int('--seed <n>', 'seed (data order, init, dropout, expert routing)', 42, 0, 2 ** 32 - 1))
  .addOption(int('--eval-every <n>', 'evaluate on dev every n epochs', 1, 1))
  .addOption(int('--patience <n>', 'early stopping patience in evaluations (0: off)', 0, 0))
  .addOption(oneOf('--optimizer <name>', 'optimizer', ['adamw', 'sgd'], 'adamw'))
  .addOption(num('--weight-decay <x>', 'decoupled weight decay (not on biases/norms)', 0.01, 0))
  .addOption(num('--clip <x>', 'global gradient-norm clip (0: off)', 5, 0))
  .addOption(oneOf('--schedule <name>', 'learning-rate schedule', ['linear', 'cosine', 'constant'], 'linear'))
  .addOption(num('--warmup <frac>', 'warmup fraction of all steps', 0.05, 0, 1))
  .option('--out <dir>', 'output directory', 'runs/latest')
  .option('--resume <checkpoint>', 'resume exactly from a last.safetensors')
  .option(
    '--allow-mismatch',
    'resume even if the frozen weights or spec differ from those the checkpoint was trained with',
  )
  .option(
    '--no-cache-frozen',
    'recompute the frozen part that reads only per-example inputs (e.g. a frozen vision tower) every step instead of once per example',
  )
  .option(
    '--allow-outside-data',
    'VQA files: let records name images outside their data directory (.., absolute paths, symlinks)',
  )
  .option('--overwrite', 'replace the run already in --out (its checkpoints, logs and answers)')
  .addOption(frozenWeightsOption())
  .addOption(autotuneOption())
  .addOption(noTunedKernelsOption())
  .action(async (spec, opts) => {
    // Loaded on use: `doctor` and `explain` need neither the trainer nor its plotting.
    const { trainCommand } = await import('./train.ts');
    process.exitCode = await trainCommand(spec, opts);
  });

program
  .command('explain')
  .description(
    'print each compiler stage: nodes, pruned backward, kernels before/after fusion, buffers, peak memory, params (no GPU needed)',
  )
  .argument('<spec>', 'model spec (.ts or .json)')
  .addOption(int('--batch <n>', 'batch size', 16, 1, MAX_BATCH))
  .addOption(oneOf('--mode <mode>', 'the graph to explain', ['train', 'infer'], 'train'))
  .option('--merged', 'inference graph with experts merged and LoRA folded')
  .option('--no-cache-frozen', "training: the step without train's cache of frozen per-example features")
  .addOption(frozenWeightsOption())
  .action(async (specPath, o) => {
    const spec = await loadSpec(specPath);
    const { stages } = await import('./explain.ts');
    console.log(
      stages(spec, {
        batch: Number(o.batch),
        mode: o.mode,
        merged: !!o.merged,
        cacheFrozen: o.cacheFrozen !== false,
        plan: { frozenWeights: o.frozenWeights },
      }).lines.join('\n'),
    );
  });

program
  .command('compile')
  .description(
    'write an artifact: plan.json, one .wgsl per kernel, a typed model.ts (+ model.js, model.d.ts) to load it with peftgraph/runtime; with --adapter, the weights, tokenizer, image processor and answers bundled',
  )
  .argument('[spec]', "model spec (.ts or .json); default: the spec --adapter's adapter records")
  .requiredOption('--out <dir>', 'output directory')
  .option(
    '--adapter <dir|file>',
    "bundle a trained adapter's weights on its base (and the answers.json beside it): the artifact runs on its own",
  )
  .option('--checkpoint <file>', 'as --adapter, from a best/last.safetensors')
  .option('--answers <file>', 'the answer list to bundle (default: answers.json beside the adapter)')
  .addOption(int('--batch <n>', 'batch size (inference: the largest request)', 16, 1, MAX_BATCH))
  .addOption(
    ints(
      '--buckets <list>',
      'inference: batch sizes to plan for, the largest = --batch (default: 1,2,4,... and --batch)',
      1,
    ),
  )
  .addOption(oneOf('--mode <mode>', 'inference or training artifact', ['train', 'infer'], 'infer'))
  .option('--merged', 'inference graph with experts merged and LoRA folded (smaller)')
  .addOption(int('--beam <n>', "a captioning model's beam width (its decoder plans' rows; 1: greedy)", 3, 1))
  .addOption(num('--lr <x>', 'train mode: peak learning rate', 5e-3, 0, Infinity, true))
  .addOption(int('--steps <n>', 'train mode: total steps of the linear schedule', 1000, 1))
  .option('--runtime-import <specifier>', 'where model.ts imports the runtime from', 'peftgraph/runtime')
  .option('--allow-mismatch', 'bundle the adapter even if this base differs from the one it was trained on')
  .addOption(frozenWeightsOption())
  .addOption(autotuneOption())
  .addOption(noTunedKernelsOption())
  .action(async (specPath, o) => {
    const { buildArtifact, writeArtifact } = await import('./artifact.ts');
    const { bundleFor } = await import('./bundle.ts');
    const { acquireDevice } = await import('../runtime/device.ts');
    const { profileOf } = await import('../runtime/profile.ts');
    const { compile } = await import('../compiler/compile.ts');
    const { tunedPlanOptions } = await import('../train/autotune.ts');
    const trained = o.adapter || o.checkpoint ? await specAndCheckpoint(specPath, o) : undefined;
    if (!trained && !specPath)
      throw new DataError('name the model: a spec file, or --adapter <run directory> (its spec and weights)');
    if (o.answers && !trained)
      throw new DataError('--answers is bundled with trained weights: add --adapter <run directory>');
    if (trained && o.mode === 'train')
      throw new DataError('--adapter bundles inference weights: drop it for a training artifact (--mode train)');
    const spec = trained?.spec ?? (await loadSpec(specPath));
    // Everything bundled is read and checked before any GPU work or writing.
    const bundle =
      o.mode === 'infer'
        ? bundleFor(spec, {
            checkpoint: trained?.checkpoint,
            answers: o.answers,
            merged: !!o.merged,
            allowMismatch: !!o.allowMismatch,
          })
        : {};
    // Kernels are chosen for the adapter they will run on: compile on (a machine like) the target.
    const gpu = await acquireDevice();
    const profile = profileOf(gpu);
    const step = {
      optimizer: { kind: 'adamw' as const, clip: 5, weightDecay: 0.01, eps: 1e-6 },
      lr: Number(o.lr),
      schedule: { kind: 'linear' as const, warmup: 0.05 },
      totalSteps: Number(o.steps),
    };
    const shapes = () =>
      compile(spec, { batch: Number(o.batch), mode: o.mode, merged: !!o.merged, loss: o.mode === 'train', profile })
        .graph;
    const { plan, classes, tuned } = await tunedPlanOptions(gpu, profile, tuningMode(o), {
      shapes,
      plan: { frozenWeights: o.frozenWeights },
    });
    if (classes) console.log(tuningLine({ classes, tuned }));
    const { meta } = buildArtifact(spec, {
      mode: o.mode,
      batch: Number(o.batch),
      buckets: o.buckets,
      merged: !!o.merged,
      profile,
      plan,
      step,
      beam: o.beam,
    });
    const files = writeArtifact(o.out, meta, o.runtimeImport, bundle);
    const size = meta.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    const bundled = files.filter((f) => /^(weights|answers|tokenizer|processor)/.test(f));
    console.log(
      `${o.mode}${o.merged ? ' (merged)' : ''}: batch ${meta.plans.map((p) => `${p.batch} (${p.plan.kernels.length} kernels)`).join(', ')}; ${meta.params.length} params (${size.toLocaleString('en-US')} values), ${files.length} files -> ${o.out}`,
    );
    if (meta.generate)
      console.log(
        `captions: beam ${meta.generate.width} over a KV cache (prefill ${meta.generate.prefill.plan.kernels.length} kernels, step ${meta.generate.step.plan.kernels.length})`,
      );
    console.log(
      bundled.length
        ? `bundled: ${bundled.join(', ')}`
        : 'bundled: nothing (load it with weights: a safetensors path or a record)',
    );
    // Held until the end: releasing Dawn's instance early and exiting later crashed its teardown.
    gpu.destroy();
  });

program
  .command('serve')
  .description(
    "a web page that runs an artifact compiled with --adapter on the browser's WebGPU: served from this machine, or written as a static site with --out",
  )
  .argument('<artifact>', 'an inference artifact directory with its inputs bundled (compile --adapter)')
  .addOption(int('--port <n>', 'port to serve on (0: any free one)', 8080, 0, 65535))
  .option('--host <address>', 'address to serve on (WebGPU needs https or localhost)', '127.0.0.1')
  .option('--out <dir>', 'write the page and a copy of the artifact to this directory instead of serving')
  .option('--title <text>', "the page's title")
  .action(async (dir, o) => {
    const { servableMeta } = await import('../web/servable.ts');
    const { pageFiles, writePage } = await import('../web/page.ts');
    const meta = servableMeta(dir);
    if (o.out) {
      await writePage(dir, meta, o.out, o.title);
      console.log(
        `wrote ${o.out}/index.html, app.js and model/ (the artifact): serve the directory over https or from localhost`,
      );
      return;
    }
    const { servePage } = await import('../web/serve.ts');
    const served = await servePage(await pageFiles(meta, o.title), {
      artifactDir: dir,
      meta,
      host: o.host,
      port: Number(o.port),
    });
    console.log(`serving ${dir} at ${served.url} (Ctrl-C stops)`);
  });

program
  .command('eval')
  .description('evaluate a checkpoint on a data split (VQA accuracy, exact match, loss)')
  .argument('[spec]', 'model spec (.ts or .json); default: the spec the checkpoint or adapter records')
  .requiredOption(
    '--data <path>',
    'VQA records (.jsonl, or a directory with <split>.jsonl or VQAv2 files), or a data module',
  )
  .option(
    '--adapter <dir|file>',
    'a run directory (its adapter.safetensors, answers.json beside it) or an adapter file',
  )
  .option('--checkpoint <file>', 'a best/last/adapter.safetensors written by train')
  .addOption(oneOf('--split <name>', 'the split to score', ['train', 'dev', 'test'], 'test'))
  .addOption(int('--batch <n>', 'batch size', 16, 1, MAX_BATCH))
  .addOption(
    int(
      '--seed <n>',
      "seed of the frozen init and the data module (default: the checkpoint's)",
      undefined,
      0,
      2 ** 32 - 1,
    ),
  )
  .option('--answers <file>', 'VQA files: the answer list (default: answers.json beside the checkpoint)')
  .option(
    '--allow-mismatch',
    'evaluate even if the frozen weights or spec differ from those the checkpoint was trained with',
  )
  .option(
    '--allow-outside-data',
    'VQA files: let records name images outside their data directory (.., absolute paths, symlinks)',
  )
  .addOption(frozenWeightsOption())
  .action(async (specPath, o) => {
    const { acquireDevice } = await import('../runtime/device.ts');
    const { Evaluator, metricName, formatEvaluation } = await import('../train/trainer.ts');
    const { weightsWithCheckpoint } = await import('../train/identity.ts');
    const { lowerModel } = await import('../compiler/lower/index.ts');
    const { isVqaData, loadVqaSplit, readAnswers } = await import('./vqa-data.ts');
    const { spec, checkpoint } = await specAndCheckpoint(specPath, o);
    o.checkpoint = checkpoint;
    const graph = lowerModel(spec, { batch: Number(o.batch), mode: 'train' }).graph;
    // VQA files go through the answer list, tokenizer and processor: the checkpoint must have been trained with the same.
    const { readsCaptions } = await import('./caption-data.ts');
    const { holdsQuestions, loadGeneratedVqaSplit, writesAnswers } = await import('./vqa-data.ts');
    const files = isVqaData(o.data);
    // Files for an LM head (GPT-2 or T5) are captions (scored on generated captions), or for T5
    // questions it answers in words (scored on the decoded text); for a classifier, VQA records.
    const written = files && writesAnswers(spec) && holdsQuestions(o.data, o.split);
    const captionFiles = files && readsCaptions(spec) && !written;
    const vqa = files && !captionFiles && !written;
    const answers = vqa ? readAnswers(spec, o.checkpoint, o.answers) : undefined;
    const { inputsIdentity } = await import('../train/identity.ts');
    const { processorFor, tokenizerFor } = await import('../data/encoders.ts');
    const inputs = files
      ? inputsIdentity({ answers, tokenizer: tokenizerFor(spec), processor: processorFor(spec) })
      : {};
    const { weights, seed } = weightsWithCheckpoint(spec, graph, o.checkpoint, {
      seed: o.seed,
      allowMismatch: !!o.allowMismatch,
      keep16: o.frozenWeights !== 'f32',
      inputs,
    });
    let split: import('../runtime/batches.ts').Dataset | undefined;
    if (vqa) split = await loadVqaSplit(spec, o.data, o.split, answers!, !!o.allowOutsideData);
    else if (written) split = await loadGeneratedVqaSplit(spec, o.data, o.split, !!o.allowOutsideData);
    else if (captionFiles) {
      const { readCaptions } = await import('../data/captions.ts');
      const { toCaptionDataset } = await import('../data/caption-dataset.ts');
      const records = readCaptions(
        o.data,
        o.split === 'train' ? 'train' : o.split === 'test' ? 'test' : 'dev',
        !!o.allowOutsideData,
      );
      const { captionEncoders } = await import('./caption-data.ts');
      split = await toCaptionDataset(records, captionEncoders(spec), 'eval');
    } else {
      split = (await loadData(o.data, seed))[o.split as 'train' | 'dev' | 'test'];
      if (!split) throw new DataError(`${o.data}: the data module has no '${o.split}' split`);
    }
    const gpu = await acquireDevice();
    const ev = await Evaluator.create(gpu, spec, Number(o.batch), { frozenWeights: o.frozenWeights });
    try {
      ev.setWeights(weights);
      // A single file is its own split: named by the file, not by --split.
      const { statSync } = await import('node:fs');
      const { basename } = await import('node:path');
      const label = files && statSync(o.data).isFile() ? basename(o.data) : o.split;
      const r = await ev.evaluate(split, label);
      console.log(formatEvaluation(label, metricName(spec, !!split.captions), r, split.examples.length));
      if (r.captions) {
        const { formatCaptionScores } = await import('../data/caption-metrics.ts');
        console.log(formatCaptionScores(label, r.captions));
      }
    } finally {
      ev.destroy();
      gpu.destroy();
    }
  });

program
  .command('predict')
  .description(
    'answer a question about an image with a trained checkpoint (the top answers and their scores), or caption it (an LM head: beam search over the KV cache; a T5 LM head also answers by generating)',
  )
  .argument('[spec]', 'model spec (.ts or .json); default: the spec the checkpoint or adapter records')
  .option(
    '--adapter <dir|file>',
    'a run directory (its adapter.safetensors, answers.json beside it) or an adapter file',
  )
  .option('--checkpoint <file>', 'a best/last/adapter.safetensors written by train (answers.json beside it)')
  .requiredOption('--image <file>', 'a PNG or JPEG image')
  .option('--question <text>', 'the question (a classifier head, or an encoder-decoder that generates the answer)')
  .option('--prompt <text>', 'text the caption continues (a decoder LM head)')
  .addOption(
    int(
      '--beam <n>',
      'beam width of a generation (an LM head; 1: greedy; default 3 for a caption, 1 for an answer)',
      undefined,
      1,
    ),
  )
  .addOption(num('--length-penalty <x>', 'beam search: a caption scores sum(log p) / tokens^x', 1, 0))
  .addOption(int('--top <n>', 'how many answers to print', 5, 1))
  .option('--answers <file>', 'the answer list (default: answers.json beside the checkpoint)')
  .option(
    '--allow-mismatch',
    'predict even if the frozen weights or spec differ from those the checkpoint was trained with',
  )
  .addOption(frozenWeightsOption())
  .action(async (specPath, o) => {
    const { spec, checkpoint } = await specAndCheckpoint(specPath, o);
    o.checkpoint = checkpoint;
    if (spec.head.kind === 'lm' && (spec.text?.kind === 'decoder' || spec.text?.kind === 'encdec')) {
      const encdec = spec.text.kind === 'encdec';
      if (o.question && !encdec)
        throw new DataError(
          '--question is for a classifier head or an encoder-decoder; a decoder LM captions the image (--prompt starts the caption)',
        );
      if (o.prompt && encdec)
        throw new DataError(
          "--prompt is for a decoder LM; an encoder-decoder's decoder starts from its start id (--question is the encoder's text)",
        );
      const { caption } = await import('./caption.ts');
      // An answer is decoded greedily by default, as eval scores answers; a caption by beam 3.
      const c = await caption(spec, { ...o, beam: o.beam ?? (o.question ? 1 : 3) });
      const how = c.beam > 1 ? `beam ${c.beam}, score ${c.score?.toFixed(4)}` : 'greedy';
      const end = c.stop === 'eos' ? 'end of sequence' : encdec ? 'the target length' : 'maxLen';
      console.log(`${JSON.stringify(c.text)} (${c.ids.length} tokens, stopped at ${end}; ${how}): ${c.ids.join(' ')}`);
      return;
    }
    if (o.prompt)
      throw new DataError('--prompt is for a decoder LM head (captioning); a classifier head answers --question');
    if (!o.question)
      throw new DataError(
        "required option '--question <text>' not specified (a classifier head answers a question about the image)",
      );
    const { predict } = await import('./predict.ts');
    for (const p of await predict(spec, o)) console.log(`${p.score.toFixed(4)}  ${p.answer}`);
  });

program
  .command('merge')
  .description(
    'fold an adapter (or checkpoint) into its base: one merged.safetensors for an inference artifact (--merged), or the model in HF layout (--hf)',
  )
  .argument('[spec]', 'model spec (.ts or .json); default: the spec the checkpoint or adapter records')
  .option(
    '--adapter <dir|file>',
    'a run directory (its adapter.safetensors, answers.json beside it) or an adapter file',
  )
  .option('--checkpoint <file>', 'an adapter.safetensors (or best/last.safetensors) written by train')
  .option('--out <file>', 'the merged weights file to write')
  .option(
    '--hf <dir>',
    'write the merged towers in HF layout instead (<dir>/vision, <dir>/text as save_pretrained does; the head in head.safetensors)',
  )
  .option('--overwrite', 'replace an existing --out file, or what the --hf directory holds')
  .addOption(int('--seed <n>', "seed of the frozen init (default: the adapter's)", undefined, 0, 2 ** 32 - 1))
  .option('--allow-mismatch', 'merge even if this base differs from the one the adapter was trained on')
  .action(async (specPath, o) => {
    const { lowerModel } = await import('../compiler/lower/index.ts');
    const { weightsWithCheckpoint } = await import('../train/identity.ts');
    const { exportMerged, exportMergedHf } = await import('../train/export.ts');
    const { resolve, dirname } = await import('node:path');
    const { existsSync, readdirSync, realpathSync, statSync } = await import('node:fs');
    const { removeStaleTemps } = await import('../runtime/safetensors.ts');
    const { makeDirs } = await import('../runtime/files.ts');
    if (!!o.out === !!o.hf)
      throw new DataError('name one output: --out <file> (peftgraph merged weights) or --hf <dir> (HF layout)');
    const { spec, checkpoint } = await specAndCheckpoint(specPath, o);
    o.checkpoint = checkpoint;
    // Never over the adapter it reads (the same file by another name included).
    const same = (a: string, b: string) =>
      resolve(a) === resolve(b) || (existsSync(a) && existsSync(b) && realpathSync(a) === realpathSync(b));
    if (o.out && same(o.out, o.checkpoint))
      throw new DataError(`--out ${o.out} is the checkpoint it merges: write the merged weights to another file`);
    if (o.out && existsSync(o.out) && !statSync(o.out).isFile())
      throw new DataError(`--out ${o.out}: not a regular file`);
    if (o.out && existsSync(o.out) && !o.overwrite)
      throw new DataError(`--out ${o.out} exists: choose another file, or pass --overwrite to replace it`);
    if (o.hf && existsSync(o.hf)) {
      if (!statSync(o.hf).isDirectory()) throw new DataError(`--hf ${o.hf}: not a directory`);
      if (readdirSync(o.hf).length && !o.overwrite)
        throw new DataError(
          `--hf ${o.hf} is not empty: choose a new directory, or pass --overwrite to replace its files`,
        );
    }
    const graph = lowerModel(spec, { batch: 1, mode: 'train' }).graph;
    const { weights } = weightsWithCheckpoint(spec, graph, o.checkpoint, {
      seed: o.seed,
      allowMismatch: !!o.allowMismatch,
    });
    if (o.hf) {
      const r = exportMergedHf(o.hf, spec, weights);
      const towers = Object.entries(r.towers).map(([t, f]) => `${t}/ (${f})`);
      console.log(
        `merged ${o.checkpoint} into its base in HF layout -> ${o.hf}: ${towers.join(', ')}, head.safetensors (${r.rest} tensors), README.md`,
      );
      return;
    }
    // Its directory made if need be; temp files a killed merge left beside its output cleaned.
    makeDirs(dirname(resolve(o.out)));
    removeStaleTemps(dirname(resolve(o.out)));
    const n = exportMerged(o.out, spec, weights, 1);
    console.log(`merged ${o.checkpoint} into its base: ${n.toLocaleString('en-US')} values -> ${o.out}`);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Errors about the user's input print their message alone (--debug adds the stack); anything else is a bug.
  const err = e as Error;
  if (err instanceof UserError)
    console.error(`peftgraph: ${err.message}${program.opts().debug ? `\n${err.stack}` : ''}`);
  else console.error(`peftgraph: internal error (a bug: please report it with what follows)\n${err.stack ?? err}`);
  process.exitCode = 1;
}
