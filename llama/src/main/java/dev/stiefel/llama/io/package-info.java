/**
 * Reading and writing model files: Hugging Face checkpoints (config.json + safetensors), GGUF v3 and llama2.c
 * checkpoints, all into {@link dev.stiefel.llama.LlamaWeights} with f32/f16/bf16 tensors memory-mapped rather
 * than copied. {@link dev.stiefel.llama.io.ModelFiles#load} picks the format. Malformed files raise
 * {@link dev.stiefel.llama.io.ModelFormatException} naming the file, the tensor and the offset.
 */
package dev.stiefel.llama.io;
