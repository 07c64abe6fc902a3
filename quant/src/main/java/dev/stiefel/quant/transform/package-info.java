/**
 * Equivalence transforms: changes of basis that leave the model's function unchanged and move activation outliers
 * where quantization hurts less. Each {@link dev.stiefel.quant.transform.Transform} folds its fixed part into the
 * weights in f64 ({@link dev.stiefel.quant.transform.DoubleWeights}) and may leave an online part that the forward
 * pass applies to activations at a hook point ({@link dev.stiefel.quant.transform.Online}). Norm folding, residual
 * rotation, per-head V/O rotation, online rotations (down_proj input, across heads, Q/K) and diagonal scalings
 * (SmoothQuant, AWQ) are the building blocks QuaRot, SpinQuant, OSTQuant, OmniQuant and FlatQuant share;
 * {@link dev.stiefel.quant.transform.Transforms#fuse} runs a pipeline of them and
 * {@link dev.stiefel.quant.transform.Transforms#compare} reports how far the fused model's logits moved.
 */
package dev.stiefel.quant.transform;
