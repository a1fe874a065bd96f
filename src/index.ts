/// <reference types="@webgpu/types" preserve="true" />
/**
 * peftgraph's public API: the DSL, the compiler entry points, training and evaluation, the data
 * readers and encoders, checkpoints and safetensors, and the runtime.
 */
export { vl, peft, parseSpec, type ModelSpec } from './dsl/index.ts';
export { hf } from './hf/towers.ts';
export type { ModelSpecInput } from './dsl/spec.ts';
export { UserError } from './user-error.ts';
export { SpecError } from './dsl/parse.ts';

// Compiler
export { lowerModel } from './compiler/lower/index.ts';
export { compile } from './compiler/compile.ts';
export { compilePlan, type Plan, type PlanOptions, type DeviceProfile } from './compiler/plan.ts';
export { paramReport, formatReport } from './compiler/params-report.ts';
export type { OptimizerConfig } from './compiler/optimizer.ts';

// Pretrained models in HF layout
export { planImport, planInit, loadImport, formatImport, pretrainedWeights, PretrainedError } from './hf/import.ts';
export { formatInitFiles, type InitFilePlan } from './runtime/init-files.ts';
export { exportTower } from './hf/export.ts';

// Training and evaluation
export { TrainConfigError } from './train/train-config.ts';
export {
  train,
  trainConfig,
  Evaluator,
  type TrainConfig,
  type TrainResult,
  type TrainEvents,
  type EpochRecord,
} from './train/trainer.ts';
export { TrainStep } from './train/train-step.ts';
export { exportMerged } from './train/export.ts';
export {
  AdapterHost,
  saveAdapter,
  loadAdapter,
  ADAPTER_FILE,
  type LoadedAdapter,
  type SaveAdapterOptions,
} from './train/adapter.ts';
export {
  baseWeights,
  backboneIdentity,
  weightsWithCheckpoint,
  inputsIdentity,
  type BackboneIdentity,
  type InputsIdentity,
} from './train/identity.ts';
export { loadVqaData, type VqaData, type VqaDataOptions } from './cli/vqa-data.ts';
export { readStepLog, STEP_LOG, type StepRecord } from './train/step-log.ts';
export type { Schedule } from './runtime/schedule.ts';

// Data: datasets, VQA files, tokenizers, images, answers, metrics
export { makeBatch, epochBatches, shuffled, type Dataset, type Example } from './runtime/batches.ts';
export { softTargets, vqaSoftScore, vqaAccuracy, exactMatch, argmax } from './runtime/metrics.ts';
export { readVqa, readJsonl, readVqaV2, kShot, toDataset, type VqaRecord, type Encoders } from './data/vqa.ts';
export { TextTokenizer, type Encoded } from './data/tokenizer.ts';
export { ImageProcessor, ProcessorConfig, readImage, type Pixels } from './data/image.ts';
export { AnswerVocab, normalizeAnswer, rankAnswers, isPlaceholderAnswer } from './data/answers.ts';
export { tokenizerFor, processorFor } from './data/encoders.ts';
export { DataError } from './data/errors.ts';

// Checkpoints and safetensors
export { saveCheckpoint, loadCheckpoint, type CheckpointData } from './runtime/checkpoint.ts';
export {
  readSafetensors,
  writeSafetensors,
  encodeSafetensors,
  decodeSafetensors,
  SafetensorsFile,
  CheckpointError,
  type TensorEntry,
  type SafeTensors,
} from './runtime/safetensors.ts';

// Runtime
export { acquireDevice, withDevice, NoAdapterError, type Gpu, type DeviceOptions } from './runtime/device.ts';
export { Executor } from './runtime/executor.ts';
export { Artifact, ArtifactError, type Weights } from './runtime/artifact.ts';
