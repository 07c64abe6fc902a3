package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Random;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Function;

import static dev.stiefel.tensor.Ref.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

class ElementwiseTest {
    static final int[][] SHAPES = {{1}, {7}, {33}, {257}, {3, 33, 7}, {5, 257}};

    enum Unary {
        NEG(Tensor::neg, x -> -x, -3, 3),
        EXP(Tensor::exp, Math::exp, -20, 20),
        LOG(Tensor::log, Math::log, 0.01f, 50),
        SQRT(Tensor::sqrt, Math::sqrt, 0, 50),
        RSQRT(Tensor::rsqrt, x -> 1 / Math.sqrt(x), 0.01f, 50),
        TANH(Tensor::tanh, Math::tanh, -10, 10),
        SIGMOID(Tensor::sigmoid, x -> 1 / (1 + Math.exp(-x)), -30, 30),
        SILU(Tensor::silu, x -> x / (1 + Math.exp(-x)), -30, 30),
        ABS(Tensor::abs, Math::abs, -5, 5),
        SQUARE(Tensor::square, x -> x * x, -5, 5),
        RECIPROCAL(Tensor::reciprocal, x -> 1 / x, 0.1f, 9),
        ROUND(Tensor::round, Math::rint, -100, 100),
        ADD_SCALAR(t -> t.add(1.25f), x -> x + 1.25, -5, 5),
        SUB_SCALAR(t -> t.sub(0.5f), x -> x - 0.5, -5, 5),
        MUL_SCALAR(t -> t.mul(-2.5f), x -> x * -2.5, -5, 5),
        DIV_SCALAR(t -> t.div(3f), x -> x / 3, -5, 5),
        POW_SCALAR(t -> t.pow(1.7f), x -> Math.pow(x, 1.7), 0.01f, 9),
        CLAMP(t -> t.clamp(-0.5f, 0.75f), x -> Math.min(Math.max(x, -0.5), 0.75), -2, 2),
        MAXIMUM_SCALAR(t -> t.maximum(0.25f), x -> Math.max(x, 0.25), -2, 2),
        MINIMUM_SCALAR(t -> t.minimum(0.25f), x -> Math.min(x, 0.25), -2, 2);

        final Function<Tensor, Tensor> op;
        final DoubleUnaryOperator ref;
        final float lo, hi;

        Unary(Function<Tensor, Tensor> op, DoubleUnaryOperator ref, float lo, float hi) {
            this.op = op; this.ref = ref; this.lo = lo; this.hi = hi;
        }
    }

    @ParameterizedTest
    @EnumSource(Unary.class)
    void unaryMatchesF64ReferenceOnEveryLayout(Unary u) {
        Random rnd = new Random(u.ordinal() + 11);
        for (int[] shape : SHAPES)
            for (Tensor x : Ref.layouts(rnd, shape, u.lo, u.hi)) {
                double[] in = Ref.values(x), expected = new double[in.length];
                // the reference sees the same f32 inputs, computes in f64 and rounds once
                for (int i = 0; i < in.length; i++) expected[i] = (float) u.ref.applyAsDouble(in[i]);
                assertClose(u.op.apply(x), shape, expected, 2e-6, 1e-30);
            }
    }

    enum Binary {
        ADD(Tensor::add, Double::sum), SUB(Tensor::sub, (a, b) -> a - b), MUL(Tensor::mul, (a, b) -> a * b),
        DIV(Tensor::div, (a, b) -> a / b), POW(Tensor::pow, Math::pow),
        MAXIMUM(Tensor::maximum, Math::max), MINIMUM(Tensor::minimum, Math::min),
        GT(Tensor::gt, (a, b) -> a > b ? 1 : 0), GE(Tensor::ge, (a, b) -> a >= b ? 1 : 0), LT(Tensor::lt, (a, b) -> a < b ? 1 : 0),
        LE(Tensor::le, (a, b) -> a <= b ? 1 : 0), EQ(Tensor::eq, (a, b) -> a == b ? 1 : 0);

        final java.util.function.BinaryOperator<Tensor> op;
        final DoubleBinaryOperator ref;

        Binary(java.util.function.BinaryOperator<Tensor> op, DoubleBinaryOperator ref) { this.op = op; this.ref = ref; }
    }

    static final int[][][] BROADCASTS = {
            {{257}, {257}}, {{7, 33}, {33}}, {{7, 1}, {1, 33}}, {{3, 1, 7}, {5, 1}}, {{1}, {4, 7}},
            {{33, 7}, {33, 7}}, {{2, 3, 33}, {3, 1}}, {{}, {5, 3}}};

    @ParameterizedTest
    @EnumSource(Binary.class)
    void binaryBroadcastsLikeNumpy(Binary b) {
        Random rnd = new Random(b.ordinal() + 100);
        for (int[][] pair : BROADCASTS) {
            int[] out = Shape.broadcast("test", pair[0], pair[1]);
            for (Tensor x : Ref.layouts(rnd, pair[0], 0.5f, 3))
                for (Tensor y : Ref.layouts(rnd, pair[1], 0.5f, 3)) {
                    double[] expected = new double[(int) Shape.numel(out)];
                    Ref.forEachIndex(out, idx -> expected[Ref.flat(out, idx)] =
                            (float) b.ref.applyAsDouble(x.get(project(idx, pair[0])), y.get(project(idx, pair[1]))));
                    assertClose(b.op.apply(x, y), out, expected, 2e-6, 1e-30);
                    // and the other way round
                    double[] swapped = new double[expected.length];
                    Ref.forEachIndex(out, idx -> swapped[Ref.flat(out, idx)] =
                            (float) b.ref.applyAsDouble(y.get(project(idx, pair[1])), x.get(project(idx, pair[0]))));
                    assertClose(b.op.apply(y, x), out, swapped, 2e-6, 1e-30);
                }
        }
    }

    @ParameterizedTest
    @EnumSource(Binary.class)
    void binaryOfOperandsThatAreBothBroadcastAlongTheRun(Binary b) {
        // expand() views with stride 0 in every dim: neither operand advances along the inner run
        for (int n : Ref.SIZES) {
            Tensor x = Tensor.scalar(1.75f).expand(3, n), y = Tensor.of(new float[]{0.5f, 2.5f, 1.75f}, 3, 1).expand(3, n);
            double[] expected = new double[3 * n];
            for (int r = 0; r < 3; r++)
                for (int i = 0; i < n; i++) expected[r * n + i] = (float) b.ref.applyAsDouble(1.75, y.get(r, 0));
            assertClose(b.op.apply(x, y), new int[]{3, n}, expected, 2e-6, 1e-30);
        }
    }

    /** The index into a broadcast operand of shape {@code s} for output index {@code idx}. */
    static int[] project(int[] idx, int[] s) {
        int[] p = new int[s.length];
        for (int d = 0; d < s.length; d++) p[d] = s[d] == 1 ? 0 : idx[idx.length - s.length + d];
        return p;
    }

    @Test
    void roundIsHalfToEvenBitForBitWithMathRint() {
        float[] tricky = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, -0.3f, 4194304.5f, -4194304.5f, 8388607.5f,
                8388609f, 1e20f, -1e20f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -0f, 0f,
                Float.MIN_VALUE, 126.5f, 127.5f};
        Random rnd = new Random(5);
        float[] x = new float[tricky.length + 301];
        System.arraycopy(tricky, 0, x, 0, tricky.length);
        for (int i = tricky.length; i < x.length; i++) x[i] = (rnd.nextInt(2001) - 1000) / 2f + (rnd.nextBoolean() ? 0 : rnd.nextFloat());
        float[] r = Tensor.wrap(x, x.length).round().toFloatArray();
        for (int i = 0; i < x.length; i++)
            assertThat(Float.floatToIntBits(r[i])).as("round(%s)", x[i]).isEqualTo(Float.floatToIntBits((float) Math.rint(x[i])));
    }

    @Test
    void comparisonsOnTiesAndNaN() {
        Tensor a = Tensor.of(new float[]{1, 2, Float.NaN, -0f, 3}, 5), b = Tensor.of(new float[]{1, 1, 0, 0f, 4}, 5);
        assertThat(a.ge(b).toFloatArray()).containsExactly(1, 1, 0, 1, 0);
        assertThat(a.gt(b).toFloatArray()).containsExactly(0, 1, 0, 0, 0);
        assertThat(a.eq(b).toFloatArray()).containsExactly(1, 0, 0, 1, 0);
        assertThat(a.le(2f).toFloatArray()).containsExactly(1, 1, 0, 1, 0);
        assertThat(a.lt(2f).toFloatArray()).containsExactly(1, 0, 0, 1, 0);
    }

    @Test
    void nanPropagatesThroughMaximumAndMinimum() {
        Tensor a = Tensor.of(new float[]{Float.NaN, 1, 2}, 3), b = Tensor.of(new float[]{0, Float.NaN, 1}, 3);
        assertThat(a.maximum(b).toFloatArray()).containsExactly(Float.NaN, Float.NaN, 2f);
        assertThat(a.minimum(b).toFloatArray()).containsExactly(Float.NaN, Float.NaN, 1f);
    }

    @Test
    void sigmoidAndSiluSaturateWithoutNaN() {
        Tensor x = Tensor.of(new float[]{-1000, -100, 100, 1000}, 4);
        assertThat(x.sigmoid().toFloatArray()).containsExactly(0f, 0f, 1f, 1f);
        // in f32, e^100 overflows to +inf, so silu(-100) is -100/inf = -0 (the f64 value, -3.7e-42, is subnormal)
        assertThat(x.silu().toFloatArray()).containsExactly(-0f, -0f, 100f, 1000f);
    }

    @Test
    void halfPrecisionInputsAreWidenedBeforeTheOp() {
        Random rnd = new Random(3);
        Tensor x = Tensor.randn(rnd, 7, 33);
        for (DType dt : new DType[]{DType.F16, DType.BF16}) {
            Tensor h = x.to(dt);
            double[] expected = Ref.values(h);
            for (int i = 0; i < expected.length; i++) expected[i] = (float) Math.exp(expected[i]);
            assertClose(h.exp(), new int[]{7, 33}, expected, 2e-6, 1e-30);
            assertThat(h.exp().dtype()).isEqualTo(DType.F32);
        }
    }

    @Test
    void outerProductMatchesDefinition() {
        Random rnd = new Random(8);
        for (int m : Ref.SIZES)
            for (int n : new int[]{1, 33}) {
                Tensor a = Tensor.randn(rnd, m), b = Tensor.randn(rnd, n);
                double[] e = new double[m * n];
                for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) e[i * n + j] = (float) ((double) a.get(i) * b.get(j));
                assertClose(a.outer(b), new int[]{m, n}, e, 1e-7, 1e-30);
            }
    }
}
