/** peftgraph's public API: the DSL, the compiler entry points and the runtime. */
export { vl, peft, hf, parseSpec, type ModelSpec } from './dsl/index.ts';
export { planImport, loadImport, formatImport, PretrainedError } from './hf/import.ts';
export { lowerModel } from './compiler/lower/index.ts';
export { compilePlan } from './compiler/plan.ts';
export { paramReport, formatReport } from './compiler/params-report.ts';
export { acquireDevice, withDevice } from './runtime/device.ts';
export { train, Evaluator } from './train/trainer.ts';
export { TrainStep } from './train/train-step.ts';
export { Executor } from './runtime/executor.ts';
