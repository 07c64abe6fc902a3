/**
 * The shared parts of quantization: quantizer specs and configs ({@link dev.stiefel.quant.QuantSpec},
 * {@link dev.stiefel.quant.QuantConfig}), fake and packed quantization ({@link dev.stiefel.quant.Quantizer},
 * {@link dev.stiefel.quant.PackedTensor}), activation and KV-cache quantization at the forward pass's hook points
 * ({@link dev.stiefel.quant.QuantHooks}),; the pipeline every method is a recipe over is {@link dev.stiefel.quant.pipeline}.
 */
package dev.stiefel.quant;
