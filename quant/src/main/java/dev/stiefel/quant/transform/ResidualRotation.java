package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;

import java.util.List;

/**
 * Rotates the residual stream by an orthogonal Q (QuaRot §4, SpinQuant's R1): every hidden state x becomes x·Q. The
 * embedding writes rotated rows (E·Q); every reader of the stream takes W·Q (q, k, v, gate, up and the head, since
 * x·Q·(W·Q)ᵀ = x·Wᵀ); every writer into it, o_proj and down_proj, becomes Qᵀ·W (its output y·Q = x·(Qᵀ·W)ᵀ). Between
 * them sit the RMSNorms, which commute with Q only when their gains are uniform: fold them first ({@link NormFold}).
 */
public record ResidualRotation(Rotation q) implements Transform {

    /** QuaRot's default: a random Hadamard matrix of the model's dim drawn from {@code seed}. */
    public static ResidualRotation randomHadamard(int dim, long seed) { return new ResidualRotation(Rotation.randomHadamard(dim, seed)); }

    @Override public String describe() { return "rotate the residual stream by " + q.describe(); }

    @Override public void fold(DoubleWeights w) {
        int dim = w.config().dim();
        if (q.size() != dim) throw new IllegalArgumentException("residual rotation: size " + q.size() + " for a model of dim " + dim);
        if (w.hasEnds()) uniform(w, -1, Input.HEAD_IN);
        for (int l : w.layerIndices())
            for (Input site : List.of(Input.ATTN_IN, Input.MLP_IN)) uniform(w, l, site);
        if (w.hasEnds()) {
            boolean tied = w.tied();
            w.setEmbedding(Folds.timesRotation(w.embedding(), q, "embedding"));
            if (!tied) w.setHead(Folds.timesRotation(w.head(), q, "head"));
        }
        for (int l : w.layerIndices()) {
            for (Linear which : List.of(Linear.Q, Linear.K, Linear.V, Linear.GATE, Linear.UP))
                w.setLinear(l, which, Folds.timesRotation(w.linear(l, which), q, which.name()));
            for (Linear which : List.of(Linear.O, Linear.DOWN))
                w.setLinear(l, which, Folds.rotationTransposedTimes(q, w.linear(l, which), which.name()));
        }
    }

    /** Refuses a norm whose gain is not uniform (layer -1: the final norm). */
    private static void uniform(DoubleWeights w, int l, Input site) {
        double[] g = w.norm(l, site);
        for (double v : g)
            if (v != g[0])
                throw new IllegalStateException("residual rotation: the RMSNorm gain at " + (l < 0 ? "the final norm" : "layer " + l + " " + site)
                        + " is not uniform (" + g[0] + " vs " + v + "), so RMSNorm(x·Q) ≠ RMSNorm(x)·Q; fold the norms first (NormFold)");
    }
}
