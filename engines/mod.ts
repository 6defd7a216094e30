/**
 * Engines: the contract and the built-in implementations.
 * @module
 */
export * from "./engine.ts";
export { onnxEngineFactory, providerLibraries } from "./onnx_node/engine.ts";
