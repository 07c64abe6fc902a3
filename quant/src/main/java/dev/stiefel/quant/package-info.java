/**
 * The shared parts of quantization: quantizer specs and configs ({@link dev.stiefel.quant.QuantSpec},
 * {@link dev.stiefel.quant.QuantConfig}), fake quantization ({@link dev.stiefel.quant.Quantizer}), activation and
 * KV-cache quantization at the forward pass's hook points ({@link dev.stiefel.quant.QuantHooks}); the pipeline every
 * method is a recipe over is {@link dev.stiefel.quant.pipeline}, and the packed model the results are saved as is
 * {@link dev.stiefel.quant.export.PackedExport}.
 */
package dev.stiefel.quant;
