package dev.stiefel.tensor.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import org.junit.jupiter.api.Test;

/**
 * {@link VectorMath}'s functions against {@code Math.exp/log/tanh} in f64 rounded to f32, on dense sweeps of the
 * float range (every 61st float: tens of millions of inputs), special values and random bit patterns; and its
 * fixed-order lane sums against the same tree summed by hand.
 */
class VectorMathTest {
    private static final int L = VectorMath.F.length();
    /** Step through the float bit patterns: odd and prime, so the sweep hits every exponent and many mantissas. */
    private static final int STRIDE = 61;

    @Test void expIsWithinOneUlpOverItsWholeRange() {
        // below −104 every result is 0, above 89 every result is +inf: the sweep covers the range between and beyond
        assertMaxUlp("exp", VectorMath::exp, Math::exp, -110f, 95f, 1);
    }

    @Test void logIsWithinOneUlpOverAllPositiveFloatsIncludingSubnormals() {
        assertMaxUlp("log", VectorMath::log, Math::log, Float.MIN_VALUE, Float.MAX_VALUE, 1);
    }

    @Test void tanhIsWithinOneUlpOverItsWholeRange() {
        assertMaxUlp("tanh", VectorMath::tanh, Math::tanh, -20f, 20f, 1);
        assertMaxUlp("tanh", VectorMath::tanh, Math::tanh, -Float.MAX_VALUE, -20f, 0);
        assertMaxUlp("tanh", VectorMath::tanh, Math::tanh, 20f, Float.MAX_VALUE, 0);
    }

    @Test void specialValuesBehaveLikeMath() {
        float[] specials = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MIN_VALUE,
            -Float.MIN_VALUE, Float.MIN_NORMAL, -Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE, 1f, -1f, 2f, 0.5f,
            88.72283f, 88.72284f, -87.33654f, -103.97207f, -103.97208f, 1e-30f, -1e-30f, Math.nextDown(1f), Math.nextUp(1f)};
        for (Fn fn : Fn.values()) {
            float[] got = apply(fn.vector, specials);
            for (int i = 0; i < specials.length; i++) {
                float want = (float) fn.reference.applyAsDouble(specials[i]);
                assertThat(ulps(got[i], want)).as("%s(%s) = %s, Math gives %s", fn, specials[i], got[i], want).isLessThanOrEqualTo(1);
                if (want == 0 || Float.isInfinite(want) || Float.isNaN(want))
                    assertThat(Float.floatToIntBits(got[i])).as("%s(%s) exactly", fn, specials[i]).isEqualTo(Float.floatToIntBits(want));
            }
        }
        assertThat(apply(VectorMath::exp, new float[]{1e-30f})[0]).isEqualTo(1f);
        assertThat(apply(VectorMath::log, new float[]{1f})[0]).isEqualTo(0f);
        assertThat(Float.floatToRawIntBits(apply(VectorMath::tanh, new float[]{-0f})[0])).as("tanh(-0) = -0").isEqualTo(0x80000000);
    }

    @Test void randomBitPatternsAreWithinOneUlp() {
        Random r = new Random(11);
        float[] x = new float[1 << 20];
        for (int i = 0; i < x.length; i++) x[i] = Float.intBitsToFloat(r.nextInt());
        for (Fn fn : Fn.values()) {
            float[] got = apply(fn.vector, x);
            for (int i = 0; i < x.length; i++) {
                float want = (float) fn.reference.applyAsDouble(x[i]);
                if (ulps(got[i], want) > 1)
                    throw new AssertionError(fn + "(" + x[i] + ") = " + got[i] + ", Math gives " + want);
            }
        }
    }

    @Test void laneSumsAddInOneFixedTreeOrder() {
        Random r = new Random(5);
        for (int trial = 0; trial < 1000; trial++) {
            float[] f = new float[L];
            // magnitudes spread over many binades, so a different order would give a different rounding
            for (int i = 0; i < L; i++) f[i] = (float) (r.nextGaussian() * Math.pow(2, r.nextInt(40) - 20));
            assertThat(VectorMath.sum(FloatVector.fromArray(VectorMath.F, f, 0))).isEqualTo(treeSum(f));
            double[] d = new double[VectorMath.D.length()];
            for (int i = 0; i < d.length; i++) d[i] = r.nextGaussian() * Math.pow(2, r.nextInt(80) - 40);
            assertThat(VectorMath.sum(DoubleVector.fromArray(VectorMath.D, d, 0))).isEqualTo(treeSum(d));
        }
    }

    /** The halving tree of {@link VectorMath#sum(FloatVector)} written out: lane i + lane (i + half), repeatedly. */
    private static float treeSum(float[] lanes) {
        float[] v = lanes.clone();
        for (int half = v.length / 2; half >= 1; half /= 2)
            for (int i = 0; i < half; i++) v[i] = v[i] + v[i + half];
        return v[0];
    }

    private static double treeSum(double[] lanes) {
        double[] v = lanes.clone();
        for (int half = v.length / 2; half >= 1; half /= 2)
            for (int i = 0; i < half; i++) v[i] = v[i] + v[i + half];
        return v[0];
    }

    // ------------------------------------------------------------ helpers

    private enum Fn {
        EXP(VectorMath::exp, Math::exp), LOG(VectorMath::log, Math::log), TANH(VectorMath::tanh, Math::tanh);

        final UnaryOperator<FloatVector> vector;
        final DoubleUnaryOperator reference;

        Fn(UnaryOperator<FloatVector> vector, DoubleUnaryOperator reference) { this.vector = vector; this.reference = reference; }
    }

    /** Sweeps [from, to] in steps of STRIDE float bit patterns (through 0 when the range crosses it). */
    private static void assertMaxUlp(String name, UnaryOperator<FloatVector> fn, DoubleUnaryOperator ref, float from, float to, long allowed) {
        long lo = ordered(from), hi = ordered(to);
        float[] x = new float[1 << 16];
        long worst = -1, count = 0, correctlyRounded = 0;
        float worstAt = 0;
        for (long o = lo; o <= hi; ) {
            int n = 0;
            for (; n < x.length && o <= hi; n++, o += STRIDE) x[n] = fromOrdered(o);
            float[] got = apply(fn, java.util.Arrays.copyOf(x, n));
            for (int i = 0; i < n; i++) {
                long u = ulps(got[i], (float) ref.applyAsDouble(x[i]));
                if (u > worst) { worst = u; worstAt = x[i]; }
                count++;
                if (u == 0) correctlyRounded++;
            }
        }
        assertThat(worst).as("%s: worst error %d ulp at x = %s (%s)", name, worst, worstAt, Float.toHexString(worstAt))
                .isLessThanOrEqualTo(allowed);
        // most results are Math's own (99.2-99.6% on these sweeps): a weaker polynomial would still pass "1 ulp"
        assertThat((double) correctlyRounded / count).as("%s: share of results equal to Math's, rounded", name).isGreaterThan(0.99);
    }

    /** fn over x, whole vectors then a masked tail. */
    static float[] apply(UnaryOperator<FloatVector> fn, float[] x) {
        float[] out = new float[x.length];
        int i = 0;
        for (; i + L <= x.length; i += L) fn.apply(FloatVector.fromArray(VectorMath.F, x, i)).intoArray(out, i);
        if (i < x.length) {
            VectorMask<Float> m = VectorMath.F.indexInRange(i, x.length);
            fn.apply(FloatVector.fromArray(VectorMath.F, x, i, m)).intoArray(out, i, m);
        }
        return out;
    }

    /** Floats as integers in their numeric order (−0 and +0 both 0), so adjacent floats differ by 1. */
    static long ordered(float f) {
        int b = Float.floatToRawIntBits(f);
        return b >= 0 ? b : -(long) (b & 0x7fffffff);
    }

    private static float fromOrdered(long o) {
        return o >= 0 ? Float.intBitsToFloat((int) o) : Float.intBitsToFloat((int) -o | 0x80000000);
    }

    /** Distance in ulps: how many floats lie between a and b (+inf is one past MAX_VALUE); NaN only matches NaN. */
    static long ulps(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) return Float.isNaN(a) && Float.isNaN(b) ? 0 : Long.MAX_VALUE;
        return Math.abs(ordered(a) - ordered(b));
    }
}
