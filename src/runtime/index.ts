/// <reference types="@webgpu/types" preserve="true" />
/**
 * `peftgraph/runtime`: what a compiled artifact needs at run time, and nothing of the compiler
 * (test/runtime/artifact.test.ts checks the import graph).
 */
export { acquireDevice, withDevice, NoAdapterError, type Gpu, type DeviceOptions } from './device.ts';
export { Artifact, ArtifactError, ARTIFACT_FORMAT, BUNDLE, type ArtifactJson, type Weights } from './artifact.ts';
export { NonFiniteError, type StepResult } from './step-runner.ts';
export type { HostArray } from './executor.ts';
export { BundledModel, loadModel, type Answer, type Task } from './bundled-model.ts';
export type { Caption } from './caption.ts';
