package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.tensor.Rope;

/**
 * A per-feature scaling between Q and K (OSTQuant §3.2): q ← q·diag(s), k ← k·diag(s)⁻¹ per KV head, so
 * (q·s)·(k/s)ᵀ = q·kᵀ. It is folded before RoPE (q_proj's rows × s, k_proj's rows ÷ s) and still exact after it only
 * because the two features RoPE rotates together share one scale: a rotation of the pair (a, b) commutes with
 * diag(σ, σ) but not with diag(σ₁, σ₂). The pairs follow the checkpoint's layout ((2i, 2i+1) interleaved, (i, i+d/2)
 * rotate-half); scales that differ within a pair are refused. With GQA every query head takes its KV head's scales.
 * Qwen2's q/k biases are scaled with their rows. Qwen3's per-head RMSNorm between q_proj/k_proj and RoPE would undo a
 * scaling of the rows (and its gain, shared by all heads, cannot hold per-head scales), so Qwen3 models are refused.
 *
 * @param scales s per layer, kvDim values (null = layer untouched)
 */
public record QkScaling(double[][] scales) implements Transform {

    @Override public String describe() { return "per-feature scaling between Q and K (rotary pairs share a scale)"; }

    @Override public void fold(DoubleWeights w) {
        LlamaConfig c = w.config();
        if (scales.length != c.layers()) throw new IllegalArgumentException("Q/K scaling: " + scales.length + " scale vectors for " + c.layers() + " layers");
        int hd = c.headDim(), group = c.groupSize();
        for (int l : w.layerIndices()) {
            double[] s = scales[l];
            if (s == null) continue;
            if (w.qkNorm(l, Linear.Q) != null)
                throw new IllegalArgumentException("Q/K scaling: layer " + l + " normalizes q and k per head before RoPE (Qwen3's q_norm/k_norm); "
                        + "scaled q_proj/k_proj rows would be undone by the norm, so this transform has no exact form there");
            if (s.length != c.kvDim()) throw new IllegalArgumentException("Q/K scaling: layer " + l + " has " + s.length + " scales for kvDim " + c.kvDim());
            for (int h = 0; h < c.kvHeads(); h++)
                for (int i = 0; i < hd / 2; i++) {
                    int a = h * hd + partner(c.ropeLayout(), hd, i, 0), b = h * hd + partner(c.ropeLayout(), hd, i, 1);
                    if (!(s[a] > 0 && Double.isFinite(s[a])) || s[a] != s[b])
                        throw new IllegalArgumentException("Q/K scaling: layer " + l + " KV head " + h + " rotary pair " + i + " has scales "
                                + s[a] + " and " + s[b] + "; they must be equal and positive, or RoPE does not commute with the scaling");
                }
            double[] expanded = new double[c.qDim()];
            for (int h = 0; h < c.heads(); h++) System.arraycopy(s, (h / group) * hd, expanded, h * hd, hd);
            Folds.scaleOutputs(w, l, Linear.Q, expanded, false); // Qwen2's q/k biases scale with their rows
            Folds.scaleOutputs(w, l, Linear.K, s, true);
        }
    }

    /** Feature index of element {@code which} (0 or 1) of rotary pair i in a head of hd features. */
    public static int partner(Rope.Layout layout, int hd, int i, int which) {
        return layout == Rope.Layout.INTERLEAVED ? 2 * i + which : i + which * (hd / 2);
    }
}
