/**
 * Engines: the contract and the built-in implementations.
 * @module
 */
export * from "./engine.ts";
export {
  ONNX_MEMORY_PROFILES,
  onnxEngineFactory,
  type OnnxEngineOptions,
  type OnnxMemoryProfile,
  type OnnxMemorySettings,
  providerLibraries,
} from "./onnx_node/engine.ts";
export { checkConformance, conformanceImage, type ConformanceReport } from "./conformance.ts";
export {
  checkEngineParity,
  type EngineParity,
  FP16_TOLERANCE,
  FP32_TOLERANCE,
  largestInputSize,
  type ParityOptions,
  type ParityResult,
  type Tolerance,
} from "./parity.ts";
export {
  CpuFallbackError,
  type OrtWebEngineOptions,
  wasmEngineFactory,
  webgpuEngineFactory,
} from "./ort_web/engine.ts";
export { OpSizeError, VERIFIED_PAST_BINDING_LIMIT } from "./ort_web/op_size_audit.ts";
export { autoEngineFactory } from "./auto.ts";
