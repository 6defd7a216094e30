/**
 * Engines: the contract and the built-in implementations.
 * @module
 */
export * from "./engine.ts";
export { onnxEngineFactory, providerLibraries } from "./onnx_node/engine.ts";
export { checkConformance, conformanceImage, type ConformanceReport } from "./conformance.ts";
export { CpuFallbackError, wasmEngineFactory, webgpuEngineFactory } from "./ort_web/engine.ts";
export { autoEngineFactory } from "./auto.ts";
