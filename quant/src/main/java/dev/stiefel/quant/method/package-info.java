/** Quantization methods: RTN and GPTQ, each a {@link dev.stiefel.quant.Method} over the shared parts. */
package dev.stiefel.quant.method;
