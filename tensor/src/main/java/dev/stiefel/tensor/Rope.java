package dev.stiefel.tensor;

import dev.stiefel.tensor.backend.Backends;

/**
 * Rotary position embedding (Su et al. 2021, RoFormer eq. 34): each pair of a head's features is rotated by
 * the angle pos · θ^(−2i/d). The frequencies and angles are computed in f64, then rounded once.
 *
 * <p>Two layouts of the pairs exist in the wild, and a loader must pick the one its checkpoint was written
 * for: {@link Layout#INTERLEAVED} pairs features (2i, 2i+1), as Meta's reference code, llama2.c and GGUF do;
 * {@link Layout#HALF} pairs (i, i + d/2), the "rotate_half" of Hugging Face checkpoints (whose converter
 * permutes the Q/K rows accordingly).
 */
public final class Rope {
    public enum Layout { INTERLEAVED, HALF }

    private final double[] invFreq;
    private final Layout layout;

    /** LLaMA's frequencies θ^(−2i/d), i = 0 .. d/2−1. */
    public Rope(int headDim, double theta, Layout layout) {
        this(frequencies(headDim, theta), layout);
    }

    /** Explicit inverse frequencies (d/2 of them), e.g. LLaMA-3's scaled ones. */
    public Rope(double[] invFreq, Layout layout) {
        if (invFreq.length == 0) throw new IllegalArgumentException("rope: no frequencies");
        this.invFreq = invFreq.clone();
        this.layout = layout;
    }

    public static double[] frequencies(int headDim, double theta) {
        if (headDim < 2 || headDim % 2 != 0) throw new IllegalArgumentException("rope: head dim must be even and >= 2, got " + headDim);
        if (!(theta > 0)) throw new IllegalArgumentException("rope: theta must be positive, got " + theta);
        double[] f = new double[headDim / 2];
        for (int i = 0; i < f.length; i++) f[i] = Math.pow(theta, -2.0 * i / headDim);
        return f;
    }

    public int headDim() { return invFreq.length * 2; }
    public Layout layout() { return layout; }
    public double[] invFreq() { return invFreq.clone(); }

    /** Rotates x [..., T, H, D] where token t sits at absolute position {@code positions[t]}. */
    public Tensor apply(Tensor x, int[] positions) {
        x.requireFloating("rope");
        int[] s = x.shape();
        if (s.length < 3 || s[s.length - 1] != headDim() || s[s.length - 3] != positions.length)
            throw new IllegalArgumentException("rope: expected x [..., T=" + positions.length + ", heads, " + headDim() + "], got " + Shape.str(s));
        for (int p : positions) if (p < 0) throw new IllegalArgumentException("rope: negative position " + p);
        return Backends.current().rope(x, positions, invFreq, layout == Layout.INTERLEAVED);
    }

    /** Rotates x [..., T, H, D] for the consecutive positions start, start+1, ... */
    public Tensor apply(Tensor x, int start) {
        int t = x.dim() >= 3 ? x.size(-3) : 0;
        int[] pos = new int[t];
        for (int i = 0; i < t; i++) pos[i] = start + i;
        return apply(x, pos);
    }
}
