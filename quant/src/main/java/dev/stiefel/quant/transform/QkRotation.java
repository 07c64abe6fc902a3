package dev.stiefel.quant.transform;

import java.util.List;

/**
 * The same rotation M on every query and key head after RoPE: (q·M)·(k·M)ᵀ = q·kᵀ, so attention scores are unchanged
 * while the keys written to the cache are rotated, which spreads their outliers before K-cache quantization (QuaRot's
 * {@code QKRotationWrapper}). Both halves are online (RoPE sits between the weights and this point); nothing is folded.
 */
public record QkRotation(Rotation m) implements Transform {

    /** QuaRot's choice: H/√headDim. */
    public static QkRotation hadamard(int headDim) { return new QkRotation(Rotation.hadamard(headDim)); }

    @Override public String describe() { return "online " + m.describe() + " on Q and K after RoPE"; }

    @Override public void fold(DoubleWeights w) {
        if (m.size() != w.config().headDim())
            throw new IllegalArgumentException("Q/K rotation: size " + m.size() + " for heads of " + w.config().headDim() + " features");
    }

    @Override public List<Online> online() { return List.of(new RotationOnline(Site.QUERY, m), new RotationOnline(Site.KEY, m)); }
}
