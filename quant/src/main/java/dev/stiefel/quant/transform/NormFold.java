package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;

/**
 * Folds each RMSNorm's gain g into the linear layers that read it: RMSNorm(x)·diag(g)·Wᵀ = RMSNorm(x)·(W·diag(g))ᵀ,
 * so W[:, j] ← W[:, j]·g_j and g ← 1 (QuaRot's {@code fuse_ln_linear}; SliceGPT §3). The norm becomes gain-free,
 * which is what lets a rotation pass through it: ||x·Q|| = ||x|| gives RMSNorm(x·Q) = RMSNorm(x)·Q, while a
 * non-uniform gain does not commute with Q. Folding the final norm into the head unties a tied head.
 *
 * <p>QuaRot also subtracts the embedding's row means, which matters for LayerNorm models (OPT) only; an RMSNorm
 * model has no mean to remove and doing so would change it, so this fold leaves the embedding alone.
 */
public record NormFold(Set<Input> sites) implements Transform {

    public NormFold {
        sites = Set.copyOf(sites);
        for (Input s : sites)
            if (s != Input.ATTN_IN && s != Input.MLP_IN && s != Input.HEAD_IN)
                throw new IllegalArgumentException("norm fold: no RMSNorm feeds " + s + " (ATTN_IN, MLP_IN, HEAD_IN)");
    }

    /** Every norm: input_layernorm, post_attention_layernorm and the final norm. */
    public static NormFold all() { return new NormFold(EnumSet.of(Input.ATTN_IN, Input.MLP_IN, Input.HEAD_IN)); }

    @Override public String describe() { return "fold RMSNorm gains into " + sites.stream().sorted().toList(); }

    @Override public void fold(DoubleWeights w) {
        for (Input site : sites) {
            int[] layers = site == Input.HEAD_IN ? (w.hasEnds() ? new int[]{0} : new int[0]) : w.layerIndices();
            for (int l : layers) {
                double[] g = w.norm(l, site);
                for (Linear which : DoubleWeights.readers(site)) {
                    DMatrix m = w.linear(l, which);
                    w.setLinear(l, which, Folds.scaleColumns(m, g, false, which.name()));
                }
                Arrays.fill(g, 1.0);
            }
        }
    }
}
