package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.stiefel.tensor.Ref.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

class ReductionTest {
    static final int[][] SHAPES = {{1}, {7}, {33}, {257}, {7, 33, 5}, {3, 257}, {257, 3}};

    interface RowRef { double apply(double[] row); }

    /** Reduces every axis of every layout of every shape with {@code op} and compares with {@code ref}. */
    static void check(String name, java.util.function.BiFunction<Tensor, Integer, Tensor> op, boolean keepDim, RowRef ref,
                      float lo, float hi, double rel, double abs) {
        Random rnd = new Random(name.hashCode());
        for (int[] shape : SHAPES)
            for (Tensor x : Ref.layouts(rnd, shape, lo, hi))
                for (int axis = 0; axis < shape.length; axis++) {
                    final int a = axis;
                    int[] outShape = keepDim ? Shape.with(shape, a, 1) : Shape.without(shape, a);
                    double[] expected = new double[(int) Shape.numel(outShape)];
                    Ref.forEachIndex(outShape, idx -> {
                        double[] row = new double[shape[a]];
                        int[] full = new int[shape.length];
                        for (int d = 0, j = 0; d < shape.length; d++) full[d] = d == a ? 0 : idx[keepDim ? d : j++];
                        for (int r = 0; r < shape[a]; r++) { full[a] = r; row[r] = x.get(full); }
                        expected[Ref.flat(outShape, idx)] = ref.apply(row);
                    });
                    Tensor got = op.apply(x, a - (a % 2) * shape.length); // odd axes are passed negative
                    assertClose(got, outShape, expected, rel, abs);
                }
    }

    @Test void sum() { check("sum", (x, a) -> x.sum(a, false), false, r -> java.util.Arrays.stream(r).sum(), -1, 1, 1e-6, 1e-6); }
    @Test void sumKeepDim() { check("sumk", (x, a) -> x.sum(a, true), true, r -> java.util.Arrays.stream(r).sum(), -1, 1, 1e-6, 1e-6); }
    @Test void mean() { check("mean", (x, a) -> x.mean(a, false), false, r -> java.util.Arrays.stream(r).average().orElseThrow(), -1, 1, 1e-6, 1e-7); }
    @Test void max() { check("max", (x, a) -> x.max(a, true), true, r -> java.util.Arrays.stream(r).max().orElseThrow(), -5, 5, 0, 0); }
    @Test void min() { check("min", (x, a) -> x.min(a, false), false, r -> java.util.Arrays.stream(r).min().orElseThrow(), -5, 5, 0, 0); }

    @Test void argmax() {
        check("argmax", (x, a) -> x.argmax(a, false), false, r -> {
            int b = 0;
            for (int i = 1; i < r.length; i++) if (r[i] > r[b]) b = i;
            return b;
        }, -5, 5, 0, 0);
    }

    @Test void argmin() {
        check("argmin", (x, a) -> x.argmin(a, true), true, r -> {
            int b = 0;
            for (int i = 1; i < r.length; i++) if (r[i] < r[b]) b = i;
            return b;
        }, -5, 5, 0, 0);
    }

    static double variance(double[] r) {
        double m = java.util.Arrays.stream(r).average().orElseThrow(), s = 0;
        for (double v : r) s += (v - m) * (v - m);
        return s / r.length;
    }

    @Test void var() { check("var", (x, a) -> x.var(a, false, false), false, ReductionTest::variance, 2, 4, 1e-5, 1e-7); }

    @Test void unbiasedVar() {
        check("uvar", (x, a) -> x.var(a, false, true), false,
                r -> r.length == 1 ? Double.NaN : variance(r) * r.length / (r.length - 1), 2, 4, 1e-5, 1e-7);
    }

    static double logsumexp(double[] r) {
        double m = java.util.Arrays.stream(r).max().orElseThrow(), s = 0;
        for (double v : r) s += Math.exp(v - m);
        return m + Math.log(s);
    }

    @Test void logsumexpDoesNotOverflow() {
        check("lse", (x, a) -> x.logsumexp(a, false), false, ReductionTest::logsumexp, 500, 1000, 1e-6, 1e-5);
        check("lse2", (x, a) -> x.logsumexp(a, true), true, ReductionTest::logsumexp, -3, 3, 1e-6, 1e-6);
    }

    @Test void argmaxTakesTheFirstOfTiesAndNaNWins() {
        Tensor x = Tensor.of(new float[]{1, 3, 3, 2, 7, 7, 7, 1, 0, Float.NaN, 5, Float.NaN}, 3, 4);
        assertThat(x.argmax(1, false).toIntArray()).containsExactly(1, 0, 1);
        assertThat(x.argmax(1, false).dtype()).isEqualTo(DType.I32);
        assertThat(x.argmax(0, false).toIntArray()).containsExactly(1, 2, 1, 2);
    }

    @Test void logsumexpOfAllMinusInfinityIsMinusInfinity() {
        Tensor x = Tensor.full(Float.NEGATIVE_INFINITY, 2, 5);
        assertThat(x.logsumexp(1, false).toFloatArray()).containsExactly(Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY);
        assertThat(x.logsumexp(0, false).toFloatArray()).containsOnly(Float.NEGATIVE_INFINITY);
    }

    @Test void fullReductionsAndF64Accumulation() {
        // 2^24 + many ones: an f32 running sum would stop growing at 2^24
        float[] v = new float[100_001];
        java.util.Arrays.fill(v, 1f);
        v[0] = 16777216f;
        assertThat(Tensor.wrap(v, v.length).sum().item()).isEqualTo(16777216f + 100_000f);
        Tensor col = Tensor.wrap(v, v.length, 1);
        assertThat(col.sum(0, false).item()).isEqualTo(16777216f + 100_000f);
        Random rnd = new Random(4);
        Tensor x = Tensor.randn(rnd, 7, 33);
        double s = 0, mx = Double.NEGATIVE_INFINITY;
        for (double d : Ref.values(x)) { s += d; mx = Math.max(mx, d); }
        assertThat((double) x.sum().item()).isCloseTo(s, org.assertj.core.data.Offset.offset(1e-5));
        assertThat((double) x.t().mean().item()).isCloseTo(s / 231, org.assertj.core.data.Offset.offset(1e-6));
        assertThat((double) x.max().item()).isEqualTo(mx);
    }
}
