package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;

/**
 * A per-channel scaling migrated between an operation and the linear layers reading its output (SmoothQuant eq. 3,
 * AWQ §3.2): the activation's channel j is divided by s_j where it is produced, and the readers' input column j is
 * multiplied by s_j, so (X·diag(s)⁻¹)·(W·diag(s))ᵀ = X·Wᵀ. Nothing is online. The readers' own biases are untouched
 * (the scaling acts on their inputs); a producer's bias is scaled with its outputs. The producers:
 * <ul>
 *   <li>{@link Between#ATTN_IN}, {@link Between#MLP_IN}, {@link Between#HEAD_IN}: an RMSNorm (gain g ← g/s) before
 *       q/k/v, gate/up, or the head;</li>
 *   <li>{@link Between#V_O}: v_proj's rows and bias (per KV-head feature) before o_proj; with GQA every query head of a group
 *       reads the same scaled KV head, so o_proj's columns of each query head take the scales of its KV head;</li>
 *   <li>{@link Between#UP_DOWN}: up_proj's rows before down_proj (silu(g) ⊙ u/s = (silu(g) ⊙ u)/s).</li>
 * </ul>
 *
 * @param between where the scaling sits
 * @param scales  s per layer (null = this layer untouched); for HEAD_IN one entry
 */
public record ChannelScaling(Between between, double[][] scales) implements Transform {

    public enum Between { ATTN_IN, MLP_IN, HEAD_IN, V_O, UP_DOWN }

    public ChannelScaling {
        for (double[] s : scales)
            if (s != null)
                for (int j = 0; j < s.length; j++)
                    if (!(s[j] > 0 && Double.isFinite(s[j])))
                        throw new IllegalArgumentException("channel scaling " + between + ": scale " + j + " is " + s[j] + "; scales must be positive and finite");
    }

    @Override public String describe() { return "per-channel scaling at " + between; }

    @Override public void fold(DoubleWeights w) {
        LlamaConfig c = w.config();
        int layers = between == Between.HEAD_IN ? 1 : c.layers();
        if (scales.length != layers) throw new IllegalArgumentException("channel scaling " + between + ": " + scales.length + " scale vectors for " + layers + " layers");
        for (int l : between == Between.HEAD_IN ? (w.hasEnds() ? new int[]{0} : new int[0]) : w.layerIndices()) {
            double[] s = scales[l];
            if (s == null) continue;
            switch (between) {
                case ATTN_IN, MLP_IN, HEAD_IN -> {
                    Input site = Input.valueOf(between.name());
                    double[] g = w.norm(l, site);
                    if (s.length != g.length) throw new IllegalArgumentException("channel scaling " + between + ": " + s.length + " scales for " + g.length + " channels");
                    for (int j = 0; j < g.length; j++) g[j] /= s[j];
                    for (Linear which : DoubleWeights.readers(site))
                        w.setLinear(l, which, Folds.scaleColumns(w.linear(l, which), s, false, which.name()));
                }
                case V_O -> {
                    Folds.scaleOutputs(w, l, Linear.V, s, true); // v_proj's bias (Qwen2) is divided with its rows
                    int hd = c.headDim(), group = c.groupSize();
                    double[] expanded = new double[c.qDim()];
                    for (int h = 0; h < c.heads(); h++) System.arraycopy(s, (h / group) * hd, expanded, h * hd, hd);
                    w.setLinear(l, Linear.O, Folds.scaleColumns(w.linear(l, Linear.O), expanded, false, "O"));
                }
                case UP_DOWN -> {
                    w.setLinear(l, Linear.UP, Folds.scaleRows(w.linear(l, Linear.UP), s, true, "UP"));
                    w.setLinear(l, Linear.DOWN, Folds.scaleColumns(w.linear(l, Linear.DOWN), s, false, "DOWN"));
                }
            }
        }
    }

    /** The readers' input dimension a scale vector must have. */
    public static int channels(LlamaConfig c, Between between) {
        return switch (between) {
            case ATTN_IN, MLP_IN, HEAD_IN -> c.dim();
            case V_O -> c.kvDim();
            case UP_DOWN -> c.hiddenDim();
        };
    }
}
