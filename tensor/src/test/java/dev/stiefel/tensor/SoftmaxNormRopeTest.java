package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.stiefel.tensor.Ref.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class SoftmaxNormRopeTest {
    static final int[][] SHAPES = {{1}, {7}, {33}, {257}, {7, 33, 5}, {3, 257}};

    @Test
    void softmaxAndLogSoftmaxAlongEveryAxis() {
        Random rnd = new Random(21);
        for (int[] shape : SHAPES)
            for (Tensor x : Ref.layouts(rnd, shape, -30, 30))
                for (int axis = 0; axis < shape.length; axis++) {
                    final int a = axis;
                    double[] soft = new double[x.numel()], logSoft = new double[x.numel()];
                    Ref.forEachIndex(shape, idx -> {
                        int[] j = idx.clone();
                        double m = Double.NEGATIVE_INFINITY, s = 0;
                        for (int r = 0; r < shape[a]; r++) { j[a] = r; m = Math.max(m, x.get(j)); }
                        for (int r = 0; r < shape[a]; r++) { j[a] = r; s += Math.exp(x.get(j) - m); }
                        soft[Ref.flat(shape, idx)] = Math.exp(x.get(idx) - m) / s;
                        logSoft[Ref.flat(shape, idx)] = x.get(idx) - m - Math.log(s);
                    });
                    assertClose(x.softmax(a), shape, soft, 3e-6, 1e-30);
                    assertClose(x.logSoftmax(a - shape.length), shape, logSoft, 1e-6, 2e-6);
                }
    }

    @Test
    void softmaxOfHugeLogitsStaysFinite() {
        Tensor x = Tensor.of(new float[]{1e30f, 1e30f, -1e30f, 3e38f}, 1, 4);
        float[] p = x.softmax(-1).toFloatArray();
        assertThat(p).containsExactly(0f, 0f, 0f, 1f);
    }

    @Test
    void rmsNormMatchesDefinition() {
        Random rnd = new Random(22);
        for (int d : Ref.SIZES)
            for (Tensor x : Ref.layouts(rnd, new int[]{5, d}, -3, 3)) {
                Tensor w = Tensor.uniform(rnd, 0.5f, 1.5f, d);
                float eps = 1e-5f;
                double[] e = new double[5 * d];
                for (int r = 0; r < 5; r++) {
                    double ss = 0;
                    for (int i = 0; i < d; i++) ss += (double) x.get(r, i) * x.get(r, i);
                    double s = 1 / Math.sqrt(ss / d + eps);
                    for (int i = 0; i < d; i++) e[r * d + i] = x.get(r, i) * s * w.get(i);
                }
                assertClose(x.rmsNorm(w, eps), new int[]{5, d}, e, 2e-6, 1e-7);
            }
    }

    /** Direct formula: pair (a, b) with frequency θ^(−2f/d) rotated by pos · freq, in f64. */
    static double[] ropeReference(Tensor x, int[] pos, double theta, boolean interleaved) {
        int[] s = x.shape();
        int d = s[s.length - 1], half = d / 2;
        double[] out = Ref.values(x);
        Ref.forEachIndex(s, idx -> {
            int i = idx[s.length - 1];
            int f = interleaved ? i / 2 : i % half;
            boolean first = interleaved ? i % 2 == 0 : i < half;
            int partner = interleaved ? (first ? i + 1 : i - 1) : (first ? i + half : i - half);
            int[] pj = idx.clone();
            pj[s.length - 1] = partner;
            double angle = pos[idx[s.length - 3]] * Math.pow(theta, -2.0 * f / d);
            double v = x.get(idx), p = x.get(pj);
            out[Ref.flat(s, idx)] = first ? v * Math.cos(angle) - p * Math.sin(angle) : p * Math.sin(angle) + v * Math.cos(angle);
        });
        return out;
    }

    @Test
    void ropeBothLayoutsMatchTheFormula() {
        Random rnd = new Random(23);
        for (Rope.Layout layout : Rope.Layout.values())
            for (int[] shape : new int[][]{{7, 3, 8}, {2, 33, 4, 6}, {1, 1, 2}, {257, 2, 16}, {7, 2, 64}, {5, 3, 132}}) {
                int t = shape[shape.length - 3];
                int[] pos = new int[t];
                for (int i = 0; i < t; i++) pos[i] = rnd.nextInt(2048);
                Rope rope = new Rope(shape[shape.length - 1], 10000, layout);
                for (Tensor x : Ref.layouts(rnd, shape, -2, 2)) {
                    double[] e = ropeReference(x, pos, 10000, layout == Rope.Layout.INTERLEAVED);
                    assertClose(rope.apply(x, pos), shape, e, 1e-6, 2e-6);
                }
            }
    }

    @Test
    void ropeAttentionScoresDependOnlyOnRelativePosition() {
        Random rnd = new Random(24);
        Rope rope = new Rope(16, 500000, Rope.Layout.HALF);
        Tensor q = Tensor.randn(rnd, 1, 1, 16), k = Tensor.randn(rnd, 1, 1, 16);
        double first = dot(rope.apply(q, 10), rope.apply(k, 3));
        double shifted = dot(rope.apply(q, 1010), rope.apply(k, 1003));
        assertThat(shifted).isCloseTo(first, within(1e-4));
        // and a rotation keeps the norm
        assertThat(dot(rope.apply(q, 77), rope.apply(q, 77))).isCloseTo(dot(q, q), within(1e-4));
    }

    @Test
    void ropeLayoutsAreRelatedByTheConverterPermutation() {
        // HF checkpoints store Q rows permuted so that rotate-half on them equals interleaved rotation on Meta's layout
        Random rnd = new Random(25);
        int d = 8;
        Tensor x = Tensor.randn(rnd, 5, 2, d);
        int[] perm = new int[d]; // HF feature j holds Meta feature perm[j]
        for (int i = 0; i < d / 2; i++) { perm[i] = 2 * i; perm[i + d / 2] = 2 * i + 1; }
        Tensor permuted = x.indexSelect(2, Tensor.ofInts(perm, d));
        Tensor viaHalf = new Rope(d, 10000, Rope.Layout.HALF).apply(permuted, 4);
        Tensor viaInterleaved = new Rope(d, 10000, Rope.Layout.INTERLEAVED).apply(x, 4).indexSelect(2, Tensor.ofInts(perm, d));
        assertThat(viaHalf.maxAbsDiff(viaInterleaved)).isLessThan(1e-6);
    }

    static double dot(Tensor a, Tensor b) {
        double[] x = Ref.values(a), y = Ref.values(b);
        double s = 0;
        for (int i = 0; i < x.length; i++) s += x[i] * y[i];
        return s;
    }
}
