package dev.stiefel.tensor.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Lane sums and transcendental functions over Vector API vectors that give the same bits in every JIT tier.
 *
 * <p>Why this class exists: the Vector API's own {@code reduceLanes(ADD)} and {@code lanewise(EXP/LOG/TANH/POW)}
 * are computed differently before and after C2 compiles the calling method. The interpreter and C1 run the
 * Java fallback (lanes summed left to right; {@code Math.exp} per lane), C2 the intrinsic (a tree of lane sums;
 * a vector math library that differs from {@code Math.exp} in the last bit). Compilation happens in the
 * background at moments that depend on timing, so the same computation run twice in one process, or the same
 * command run twice, gave results that differed by about 1e-6. Everything here is built only from operations
 * that are exactly rounded and the same in every tier: add, sub, mul, div, fma, sqrt, compares, blends, lane
 * moves (rearrange), integer bit operations and exact conversions. A sum adds the lanes in one fixed tree
 * order; the functions are polynomials after an exact range reduction.
 *
 * <p>Accuracy (tested on dense sweeps against {@code Math.exp/log/tanh} in f64 rounded to f32): exp and log
 * within 1 ulp, tanh within 1 ulp (it is evaluated in f64); special values as {@code Math}: exp(+inf) = +inf,
 * exp(-inf) = 0, overflow to +inf above ln(Float.MAX_VALUE), gradual underflow to subnormals and 0; log of 0 is
 * -inf, of a negative number NaN, subnormal inputs are exact; NaN in, NaN out.
 */
final class VectorMath {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Long> J = VectorSpecies.of(long.class, F.vectorShape());
    private static final int L = F.length();

    private VectorMath() {}

    // ------------------------------------------------------------ fixed-order lane sums

    /**
     * Shuffles that swap lane i with lane i ^ h, for the halving steps of {@link #sum(FloatVector)}. Written
     * out as four constants (C2 only intrinsifies a rearrange whose shuffle it can see as a constant); the
     * steps a shorter species does not need are never used.
     */
    private static final VectorShuffle<Float> F_XOR8 = xor(F, 8), F_XOR4 = xor(F, 4), F_XOR2 = xor(F, 2), F_XOR1 = xor(F, 1);
    private static final VectorShuffle<Double> D_XOR4 = xor(D, 4), D_XOR2 = xor(D, 2), D_XOR1 = xor(D, 1);

    private static <E> VectorShuffle<E> xor(VectorSpecies<E> s, int h) {
        int n = s.length();
        return VectorShuffle.fromOp(s, i -> h < n ? i ^ h : i);
    }

    /**
     * Σ lanes in a fixed order: a halving tree (lane i + lane i^8, then ^4, ^2, ^1), from lane-wise adds and
     * lane moves. Not {@code reduceLanes(ADD)}, whose order changes when C2 compiles the caller.
     */
    static float sum(FloatVector v) {
        if (L > 16) return sumInOrder(v.toArray());
        if (L >= 16) v = v.add(v.rearrange(F_XOR8));
        if (L >= 8) v = v.add(v.rearrange(F_XOR4));
        if (L >= 4) v = v.add(v.rearrange(F_XOR2));
        if (L >= 2) v = v.add(v.rearrange(F_XOR1));
        return v.lane(0);
    }

    /** Σ lanes of a double vector in a fixed order, as {@link #sum(FloatVector)}. */
    static double sum(DoubleVector v) {
        int n = D.length();
        if (n > 8) return sumInOrder(v.toArray());
        if (n >= 8) v = v.add(v.rearrange(D_XOR4));
        if (n >= 4) v = v.add(v.rearrange(D_XOR2));
        if (n >= 2) v = v.add(v.rearrange(D_XOR1));
        return v.lane(0);
    }

    /** Wider machines than this code was written for (SVE beyond 512 bits): the lanes left to right. */
    private static float sumInOrder(float[] lanes) {
        float s = 0;
        for (float x : lanes) s += x;
        return s;
    }

    private static double sumInOrder(double[] lanes) {
        double s = 0;
        for (double x : lanes) s += x;
        return s;
    }

    // ------------------------------------------------------------ exp

    /** log₂e, for n = round(x·log₂e). */
    private static final float LOG2E = 1.44269504088896341f;
    /**
     * ln 2 in two parts (Cody and Waite 1980): the high part has 12 significant bits, so n·LN2_HI is exact for
     * |n| ≤ 2^12 and x − n·LN2_HI is exact too (the result is small and lies on the grid of x and n·LN2_HI);
     * the low part carries the rest of ln 2.
     */
    private static final float LN2_HI = Float.intBitsToFloat(Float.floatToRawIntBits((float) Math.log(2)) & 0xfffff000);
    private static final float LN2_LO = (float) (Math.log(2) - LN2_HI);
    /** 1.5·2^23: x + this rounds x to an integer, which is then the low bits of the sum's representation. */
    private static final float ROUND_MAGIC = 0x1.8p23f;
    private static final int ROUND_MAGIC_BITS = Float.floatToRawIntBits(ROUND_MAGIC);
    /** e^89 overflows to +inf, e^-104 underflows to 0; clamping here keeps n within the exponent field's reach. */
    private static final float EXP_HI = 89f, EXP_LO = -104f;
    /** 1/k! for the Taylor polynomial of e^r, |r| ≤ ln2/2 (the first term left out is r^9/9! < 2^-37). */
    private static final float E2 = 1f / 2, E3 = 1f / 6, E4 = 1f / 24, E5 = 1f / 120, E6 = 1f / 720, E7 = 1f / 5040, E8 = 1f / 40320;

    /**
     * e^x per lane: x = n·ln2 + r with n an integer and |r| ≤ ln2/2, e^x = 2^n·e^r. e^r is a degree-8 Taylor
     * polynomial, evaluated as 1 + (r + r²·q(r)) so the leading 1 is added last and only once rounded. 2^n is
     * built in the exponent field, in two factors 2^(n/2)·2^(n − n/2) so that results down in the subnormals
     * (n to −150) and up to the overflow (n = 128) both come out of two exact-or-once-rounded products.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_LO).min(EXP_HI); // NaN passes through both
        FloatVector t = xc.fma(LOG2E, ROUND_MAGIC);
        FloatVector n = t.sub(ROUND_MAGIC);
        IntVector ni = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector q = r.fma(E8, E7);
        q = q.fma(r, FloatVector.broadcast(F, E6));
        q = q.fma(r, FloatVector.broadcast(F, E5));
        q = q.fma(r, FloatVector.broadcast(F, E4));
        q = q.fma(r, FloatVector.broadcast(F, E3));
        q = q.fma(r, FloatVector.broadcast(F, E2));
        FloatVector er = q.fma(r.mul(r), r).add(1f);
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1), n2 = ni.sub(n1);
        return er.mul(pow2(n1)).mul(pow2(n2));
    }

    /** 2^n as a float for −126 ≤ n ≤ 127, from its exponent field. */
    private static FloatVector pow2(IntVector n) {
        return n.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    }

    // ------------------------------------------------------------ log

    /** The bits of √½: mantissas are normalised into [√½, √2), so the reduced argument f = m − 1 is small. */
    private static final int SQRT_HALF_BITS = Float.floatToRawIntBits((float) Math.sqrt(0.5));
    /** 2/(2k+1) for log(1+f) = 2·atanh(s), s = f/(2+f): 2s + (2/3)s³ + (2/5)s⁵ + ... (|s| ≤ 0.172). */
    private static final float A1 = 2f / 3, A2 = 2f / 5, A3 = 2f / 7, A4 = 2f / 9;
    /** ln 2 split as for exp, but with 16 significant bits: k·LOG_LN2_HI is exact for the |k| ≤ 152 of a float. */
    private static final float LOG_LN2_HI = Float.intBitsToFloat(Float.floatToRawIntBits((float) Math.log(2)) & 0xffffff00);
    private static final float LOG_LN2_LO = (float) (Math.log(2) - LOG_LN2_HI);
    private static final float MIN_NORMAL = Float.MIN_NORMAL, SUBNORMAL_SCALE = 0x1p23f;

    /**
     * Natural log per lane: x = 2^k·m with m ∈ [√½, √2), f = m − 1 (exact), and with s = f/(2+f):
     * log(1+f) = f − (f²/2 − s·(f²/2 + R)), R = (2/3)s² + (2/5)s⁴ + (2/7)s⁶ + (2/9)s⁸, an identity of the atanh
     * series that keeps the exact f as the leading term (the form fdlibm's log uses). Then
     * log x = k·ln2 + log(1+f). Subnormal x is scaled by 2^23 first.
     */
    static FloatVector log(FloatVector x) {
        VectorMask<Float> tiny = x.lt(MIN_NORMAL); // subnormals (and 0 and negatives, replaced at the end)
        FloatVector xs = x.blend(x.mul(SUBNORMAL_SCALE), tiny);
        IntVector shifted = xs.reinterpretAsInts().sub(SQRT_HALF_BITS);
        IntVector k = shifted.lanewise(VectorOperators.ASHR, 23);
        FloatVector m = shifted.and(0x007fffff).add(SQRT_HALF_BITS).reinterpretAsFloats();
        FloatVector kf = ((FloatVector) k.convert(VectorOperators.I2F, 0)).lanewise(VectorOperators.SUB, 23f, tiny);
        FloatVector f = m.sub(1f);
        FloatVector s = f.div(f.add(2f));
        FloatVector z = s.mul(s);
        FloatVector poly = z.fma(A4, A3);
        poly = poly.fma(z, FloatVector.broadcast(F, A2));
        poly = poly.fma(z, FloatVector.broadcast(F, A1));
        FloatVector rz = poly.mul(z);
        FloatVector hfsq = f.mul(f).mul(0.5f);
        FloatVector tail = s.mul(hfsq.add(rz)).add(kf.mul(LOG_LN2_LO));
        FloatVector result = kf.mul(LOG_LN2_HI).add(f.sub(hfsq.sub(tail)));
        result = result.blend(Float.NEGATIVE_INFINITY, x.eq(0f));
        result = result.blend(Float.NaN, x.lt(0f));
        return result.blend(x, x.test(VectorOperators.IS_NAN).or(x.eq(Float.POSITIVE_INFINITY)));
    }

    // ------------------------------------------------------------ tanh

    /** tanh rounds to 1 in f32 from |x| ≈ 9.01 on; clamping there keeps e^2|x| small. */
    private static final float TANH_CLAMP = 10f;
    /** Below this |x| the Taylor series, above it 1 − 2/(e^2|x| + 1) (which cancels too much near 0). */
    private static final double TANH_SERIES_MAX = 0.0625;
    /** tanh's Taylor coefficients after x: −1/3, 2/15, −17/315, 62/2835, −1382/155925. */
    private static final double T3 = -1.0 / 3, T5 = 2.0 / 15, T7 = -17.0 / 315, T9 = 62.0 / 2835, T11 = -1382.0 / 155925;

    /**
     * tanh per lane, computed in f64 and rounded once to f32 (so within an ulp): the sign is set aside, |x| is
     * widened, tanh|x| taken from the series or from e^2|x|, narrowed and the sign put back (tanh(−0) = −0).
     */
    static FloatVector tanh(FloatVector x) {
        FloatVector a = x.abs().min(TANH_CLAMP);
        DoubleVector lo = tanhNonNegative((DoubleVector) a.convertShape(VectorOperators.F2D, D, 0));
        DoubleVector hi = tanhNonNegative((DoubleVector) a.convertShape(VectorOperators.F2D, D, 1));
        // each half narrows into its own half of a float vector, zeros elsewhere; tanh|x| ≥ 0, so OR joins them
        IntVector joined = ((FloatVector) lo.convertShape(VectorOperators.D2F, F, 0)).reinterpretAsInts()
                .or(((FloatVector) hi.convertShape(VectorOperators.D2F, F, -1)).reinterpretAsInts());
        return joined.or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
    }

    private static DoubleVector tanhNonNegative(DoubleVector a) {
        DoubleVector a2 = a.mul(a);
        DoubleVector series = a2.fma(T11, T9);
        series = series.fma(a2, DoubleVector.broadcast(D, T7));
        series = series.fma(a2, DoubleVector.broadcast(D, T5));
        series = series.fma(a2, DoubleVector.broadcast(D, T3));
        series = series.mul(a2).fma(a, a);
        DoubleVector viaExp = DoubleVector.broadcast(D, 1).sub(DoubleVector.broadcast(D, 2).div(expDouble(a.add(a)).add(1)));
        return viaExp.blend(series, a.lt(TANH_SERIES_MAX));
    }

    private static final double LOG2E_D = 1.4426950408889634;
    private static final double LN2_HI_D = Double.longBitsToDouble(Double.doubleToRawLongBits(Math.log(2)) & 0xffffffff00000000L);
    private static final double LN2_LO_D = Math.log(2) - LN2_HI_D;
    private static final double ROUND_MAGIC_D = 0x1.8p52;
    private static final long ROUND_MAGIC_D_BITS = Double.doubleToRawLongBits(ROUND_MAGIC_D);
    /** 1/10!, 1/9!, ..., 1/1!, 1/0!: the rest of e^r's Taylor coefficients, for Horner's rule. */
    private static final double[] EXP_D_TAYLOR = {
        1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1, 1};

    /**
     * e^y in f64 for 0 ≤ y ≤ 2·TANH_CLAMP, to about 1e-15 relative: the reduction of {@link #exp} with a
     * degree-12 Taylor polynomial. Enough for tanh, whose f64 result is rounded to f32.
     */
    private static DoubleVector expDouble(DoubleVector y) {
        DoubleVector t = y.fma(LOG2E_D, ROUND_MAGIC_D);
        DoubleVector n = t.sub(ROUND_MAGIC_D);
        LongVector ni = t.reinterpretAsLongs().sub(ROUND_MAGIC_D_BITS);
        DoubleVector r = n.fma(DoubleVector.broadcast(D, -LN2_HI_D), y);
        r = n.fma(DoubleVector.broadcast(D, -LN2_LO_D), r);
        DoubleVector p = r.fma(1.0 / 479001600, 1.0 / 39916800);     // 1/12!, 1/11!
        for (double c : EXP_D_TAYLOR) p = p.fma(r, DoubleVector.broadcast(D, c));
        return p.mul(ni.add(1023).lanewise(VectorOperators.LSHL, 52).reinterpretAsDoubles());
    }
}
