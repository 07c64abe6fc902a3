/** Quantization methods: RTN, GPTQ, SmoothQuant, AWQ and QuaRot, each a {@link dev.stiefel.quant.Method} over the shared parts. */
package dev.stiefel.quant.method;
