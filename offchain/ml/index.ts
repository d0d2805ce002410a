/** The PostHuman model runtime: GPT-2 checkpoints, tokenizer, training, ONNX serving, evaluation, executors. */
export * from "./errors";
export * from "./config";
export * from "./tokenizer";
export * from "./safetensors";
export * from "./checkpoint";
export * from "./data";
export * from "./progress";
export { Rng } from "./rng";
export { canonicalJson, sha256Hex0x } from "./hash";
