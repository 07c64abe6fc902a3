package dev.stiefel.tensor.cpu;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Iterator;

/**
 * cos and sin of pos · θᵢ for RoPE, laid out for the vector rows of {@link VectorKernels#ropeInterleavedRow}
 * and {@link VectorKernels#ropeHalfRow}, with the last few tables kept. A training step applies the same
 * rotation to q and k, and its inverse to their gradients, for the same positions every step: computing the
 * 2·T·D/2 f64 cosines and sines each time cost more than the rotation itself (0.3 ms at T = 256, D = 64).
 */
final class RopeTables {
    private RopeTables() {}

    /**
     * One position per row of {@code rowLength} floats. Interleaved: cos = (c₀, c₀, c₁, c₁, ...) and
     * sin = (−s₀, s₀, −s₁, s₁, ...), so a pair rotates as x·cos + swap(x)·sin. Half: cos = (c₀, ..., c_{D/2−1}),
     * sin likewise.
     */
    record Table(int[] positions, double[] invFreq, boolean interleaved, float[] cos, float[] sin, int rowLength) {
        boolean matches(int[] p, double[] f, boolean il) {
            return il == interleaved && Arrays.equals(p, positions) && Arrays.equals(f, invFreq);
        }
    }

    private static final int KEEP = 4;
    /** Tables larger than this many floats are computed per call rather than kept. */
    private static final int MAX_KEPT_FLOATS = 1 << 20;
    private static final ArrayDeque<Table> recent = new ArrayDeque<>();

    static Table of(int[] positions, double[] invFreq, boolean interleaved) {
        synchronized (recent) {
            for (Iterator<Table> it = recent.iterator(); it.hasNext(); ) {
                Table t = it.next();
                if (t.matches(positions, invFreq, interleaved)) {
                    it.remove();
                    recent.addFirst(t);
                    return t;
                }
            }
        }
        Table t = compute(positions, invFreq, interleaved);
        if ((long) t.cos.length * 2 <= MAX_KEPT_FLOATS) {
            synchronized (recent) {
                recent.addFirst(t);
                while (recent.size() > KEEP) recent.removeLast();
            }
        }
        return t;
    }

    private static Table compute(int[] positions, double[] invFreq, boolean interleaved) {
        int half = invFreq.length, row = interleaved ? 2 * half : half;
        float[] cos = new float[positions.length * row], sin = new float[positions.length * row];
        for (int i = 0; i < positions.length; i++)
            for (int f = 0; f < half; f++) {
                double angle = positions[i] * invFreq[f];
                float c = (float) Math.cos(angle), s = (float) Math.sin(angle);
                if (interleaved) {
                    cos[i * row + 2 * f] = c;
                    cos[i * row + 2 * f + 1] = c;
                    sin[i * row + 2 * f] = -s;
                    sin[i * row + 2 * f + 1] = s;
                } else {
                    cos[i * row + f] = c;
                    sin[i * row + f] = s;
                }
            }
        return new Table(positions.clone(), invFreq.clone(), interleaved, cos, sin, row);
    }
}
