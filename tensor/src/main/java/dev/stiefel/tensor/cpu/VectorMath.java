package dev.stiefel.tensor.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
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
 * <p>Accuracy (tested on dense sweeps against {@code Math.exp/log/tanh} in f64 rounded to f32): exp, log and tanh
 * within 1 ulp, and more than 99% of the results equal to {@code Math}'s (on every 7th float of their ranges:
 * 99.2% for exp, 99.4% for log, 99.6% for tanh). Special values as {@code Math}: exp(+inf) = +inf, exp(-inf) = 0, overflow to +inf above
 * ln(Float.MAX_VALUE), gradual underflow to subnormals and 0; log of ±0 is -inf, of a negative number NaN, of a
 * subnormal within the same 1 ulp (it is scaled by 2^23 first); tanh(±inf) = ±1, tanh(−0) = −0; NaN in, NaN out.
 * exp and log take a shorter path when every lane of the vector is in their normal range, and a lane gets the
 * same bits on either path. They are no slower than the Vector API intrinsics they replace (docs/BENCHMARKS.md,
 * "Determinism").
 */
public final class VectorMath {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());
    private static final int L = F.length();

    private VectorMath() {}

    // ------------------------------------------------------------ fixed-order lane sums

    /**
     * Shuffles that swap lane i with lane i ^ h, for the halving steps of {@link #sum(FloatVector)}: one static
     * final constant per step, so the JIT sees each as a constant; a shorter species skips the steps it does not
     * need (and a step wider than the species is the identity).
     */
    private static final VectorShuffle<Float> F_XOR8 = xor(F, 8), F_XOR4 = xor(F, 4), F_XOR2 = xor(F, 2), F_XOR1 = xor(F, 1);
    private static final VectorShuffle<Double> D_XOR4 = xor(D, 4), D_XOR2 = xor(D, 2), D_XOR1 = xor(D, 1);

    private static <E> VectorShuffle<E> xor(VectorSpecies<E> s, int h) {
        int n = s.length();
        return VectorShuffle.fromOp(s, i -> h < n ? i ^ h : i);
    }

    /**
     * Σ lanes in a fixed order: a halving tree (lane i + lane i^8, then ^4, ^2, ^1), from lane-wise adds and
     * lane moves. Not {@code reduceLanes(ADD)}, whose order changes when C2 compiles the caller. A vector of
     * another species than the preferred one (the packed kernels need at least 8 lanes) is summed left to right.
     */
    public static float sum(FloatVector v) {
        if (L > 16 || v.species() != F) return sumInOrder(v.toArray());
        if (L >= 16) v = v.add(v.rearrange(F_XOR8));
        if (L >= 8) v = v.add(v.rearrange(F_XOR4));
        if (L >= 4) v = v.add(v.rearrange(F_XOR2));
        if (L >= 2) v = v.add(v.rearrange(F_XOR1));
        return v.lane(0);
    }

    /** Σ lanes of a double vector in a fixed order, as {@link #sum(FloatVector)}. */
    public static double sum(DoubleVector v) {
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

    // ------------------------------------------------------------ rounding

    /** 2^23: from here on every float is an integer. */
    private static final float TWO_23 = 0x1p23f;

    /**
     * Round half to even, lane by lane, as {@code (float) Math.rint(x)} without a scalar loop: for |x| < 2^23,
     * (|x| + 2^23) − 2^23 leaves exactly the integer nearest |x| under the FPU's round-to-nearest-even; larger
     * magnitudes, infinities and NaN are already integral (or not numbers) and pass through. The sign is put back so
     * −0.3 rounds to −0.0.
     */
    public static FloatVector round(FloatVector v) {
        FloatVector a = v.abs();
        FloatVector r = a.add(TWO_23).sub(TWO_23);
        IntVector sign = v.reinterpretAsInts().and(0x80000000);
        FloatVector signed = r.reinterpretAsInts().or(sign).reinterpretAsFloats();
        return v.blend(signed, a.lt(TWO_23));
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
    /**
     * Inside [EXP_NORMAL_LO, EXP_NORMAL_HI], n lies in [−125, 127] and e^x is a normal float, so 2^n can be
     * added straight into e^r's exponent field. The bound checks cost less than the clamping and two-step
     * scaling the other inputs need.
     */
    private static final float EXP_NORMAL_LO = -86.5f, EXP_NORMAL_HI = 88f;
    /** e^89 overflows to +inf, e^-104 underflows to 0; clamping there keeps n within the exponent field's reach. */
    private static final float EXP_HI = 89f, EXP_LO = -104f;
    /** 1/k! for the Taylor polynomial of e^r, |r| ≤ ln2/2 (the first term left out, r^8/8!, is below 2^-27). */
    private static final float E2 = 1f / 2, E3 = 1f / 6, E4 = 1f / 24, E5 = 1f / 120, E6 = 1f / 720, E7 = 1f / 5040;

    /**
     * e^x per lane: x = n·ln2 + r with n an integer and |r| ≤ ln2/2, e^x = 2^n·e^r (Cody and Waite's reduction).
     * e^r is a degree-7 Taylor polynomial, evaluated as 1 + (r + r²·q(r)) so the leading 1 is added last and only
     * once rounded. When every lane's result is a normal float, 2^n goes straight into the exponent field;
     * otherwise {@link #expAnyRange} scales in two steps. Both give a lane with a normal result the same bits (the
     * scaling is exact either way), so a lane's result does not depend on its neighbours.
     */
    static FloatVector exp(FloatVector x) {
        if (!x.compare(VectorOperators.GE, EXP_NORMAL_LO).and(x.compare(VectorOperators.LE, EXP_NORMAL_HI)).allTrue())
            return expAnyRange(x); // NaN fails both compares
        FloatVector t = x.fma(LOG2E, ROUND_MAGIC);
        IntVector n = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS);
        return expm1OfRemainder(x, t).add(1f).reinterpretAsInts().add(n.lanewise(VectorOperators.LSHL, 23)).reinterpretAsFloats();
    }

    /**
     * {@link #exp} for any input: x clamped to [−104, 89], 2^n applied as 2^(n/2)·2^(n − n/2) so that results
     * down in the subnormals (n to −150) and up to the overflow (n = 128) come out of two products, the first
     * exact and the second rounded once. NaN passes the clamp and the arithmetic as NaN.
     */
    private static FloatVector expAnyRange(FloatVector x) {
        FloatVector xc = x.max(EXP_LO).min(EXP_HI);
        FloatVector t = xc.fma(LOG2E, ROUND_MAGIC);
        IntVector n = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS);
        IntVector n1 = n.lanewise(VectorOperators.ASHR, 1), n2 = n.sub(n1);
        return expm1OfRemainder(xc, t).add(1f).mul(pow2(n1)).mul(pow2(n2));
    }

    /**
     * e^r − 1 = r + r²·q(r) for r = x − n·ln2, where t = x·log₂e + ROUND_MAGIC holds n = t − ROUND_MAGIC. Kept
     * apart from the 1 so {@link #exp} rounds 1 + (e^r − 1) once and {@link #tanh} can use it unrounded.
     */
    private static FloatVector expm1OfRemainder(FloatVector x, FloatVector t) {
        FloatVector n = t.sub(ROUND_MAGIC);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector q = r.fma(E7, E6);
        q = q.fma(r, FloatVector.broadcast(F, E5));
        q = q.fma(r, FloatVector.broadcast(F, E4));
        q = q.fma(r, FloatVector.broadcast(F, E3));
        q = q.fma(r, FloatVector.broadcast(F, E2));
        return q.fma(r.mul(r), r);
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
    private static final float SUBNORMAL_SCALE = 0x1p23f;

    /**
     * Natural log per lane: x = 2^k·m with m ∈ [√½, √2), f = m − 1 (exact), and with s = f/(2+f):
     * log(1+f) = f − (f²/2 − s·(f²/2 + R)), R = (2/3)s² + (2/5)s⁴ + (2/7)s⁶ + (2/9)s⁸, an identity of the atanh
     * series that keeps the exact f as the leading term (the form fdlibm's log uses). Then
     * log x = k·ln2 + log(1+f). Vectors holding a subnormal, zero, negative, infinite or NaN lane take
     * {@link #logAnyRange}, which gives the other lanes the same bits.
     */
    static FloatVector log(FloatVector x) {
        if (!x.compare(VectorOperators.GE, Float.MIN_NORMAL).and(x.compare(VectorOperators.LE, Float.MAX_VALUE)).allTrue())
            return logAnyRange(x);
        IntVector shifted = x.reinterpretAsInts().sub(SQRT_HALF_BITS);
        FloatVector k = (FloatVector) shifted.lanewise(VectorOperators.ASHR, 23).convert(VectorOperators.I2F, 0);
        return logReduced(shifted, k);
    }

    /** {@link #log} for any input: subnormals scaled by 2^23 first, then 0 → −inf, negative → NaN, +inf and NaN kept. */
    private static FloatVector logAnyRange(FloatVector x) {
        VectorMask<Float> tiny = x.lt(Float.MIN_NORMAL);
        IntVector shifted = x.blend(x.mul(SUBNORMAL_SCALE), tiny).reinterpretAsInts().sub(SQRT_HALF_BITS);
        FloatVector k = ((FloatVector) shifted.lanewise(VectorOperators.ASHR, 23).convert(VectorOperators.I2F, 0))
                .lanewise(VectorOperators.SUB, 23f, tiny);
        FloatVector result = logReduced(shifted, k);
        result = result.blend(Float.NEGATIVE_INFINITY, x.eq(0f));
        result = result.blend(Float.NaN, x.lt(0f));
        return result.blend(x, x.test(VectorOperators.IS_NAN).or(x.eq(Float.POSITIVE_INFINITY)));
    }

    /** k·ln2 + log(m) from the bits of x minus those of √½ (m's mantissa is in the low 23 bits) and k as a float. */
    private static FloatVector logReduced(IntVector shifted, FloatVector k) {
        FloatVector m = shifted.and(0x007fffff).add(SQRT_HALF_BITS).reinterpretAsFloats();
        FloatVector f = m.sub(1f);
        FloatVector s = f.div(f.add(2f));
        FloatVector z = s.mul(s);
        FloatVector poly = z.fma(A4, A3);
        poly = poly.fma(z, FloatVector.broadcast(F, A2));
        poly = poly.fma(z, FloatVector.broadcast(F, A1));
        FloatVector hfsq = f.mul(f).mul(0.5f);
        FloatVector tail = k.fma(FloatVector.broadcast(F, LOG_LN2_LO), s.mul(poly.fma(z, hfsq)));
        return k.fma(FloatVector.broadcast(F, LOG_LN2_HI), f.sub(hfsq.sub(tail)));
    }

    // ------------------------------------------------------------ tanh

    /** Below this |x|, an odd polynomial; from it on, 1 − 2t/(1 + t) with t = e^−2|x| ≤ 0.287. */
    private static final float TANH_POLY_MAX = 0.625f;
    /**
     * tanh rounds to 1 in f32 from |x| ≈ 9.01 on. −2|x| is clamped at −20 (|x| = 10), which keeps 2^n a normal
     * float and still gives exactly 1: 2t/(1 + t) ≈ 4e-9 is below half the gap under 1.
     */
    private static final float TANH_EXP_LO = -20f;
    /**
     * tanh x = x + x³·P(x²) on |x| < 0.625: P of degree 4, fitted for the least maximum relative error of tanh
     * (Lawson's iteration on 4000 points against mpmath's tanh, tensor/scripts/fit_tanh.py; fit error 4.4e-9, about
     * 0.07 of a half-ulp).
     */
    private static final float P0 = -0.33333281935409037f, P1 = 0.1333144201273788f, P2 = -0.0537396990010515f,
            P3 = 0.020639032712275466f, P4 = -0.005704923772471721f;

    /**
     * tanh per lane on |x| with the sign put back (so tanh(−0) = −0): the polynomial near 0, where the exponential
     * form cancels, and beyond it 1 − 2t/(1 + t) with t = e^−2|x| = 2^n·(1 + p), p = e^r − 1 from exp's reduction.
     * t is never rounded: 2t = 2^(n+1) + 2^(n+1)·p and 1 + t = (1 + 2^n) + 2^n·p are each one fma, so the
     * quotient carries three roundings and none from e^−2|x| itself (rounding t first cost up to 2 ulp).
     */
    static FloatVector tanh(FloatVector x) {
        FloatVector a = x.abs();
        FloatVector z = a.mul(a);
        FloatVector poly = z.fma(P4, P3);
        poly = poly.fma(z, FloatVector.broadcast(F, P2));
        poly = poly.fma(z, FloatVector.broadcast(F, P1));
        poly = poly.fma(z, FloatVector.broadcast(F, P0));
        FloatVector small = a.mul(z).fma(poly, a);
        FloatVector y = a.mul(-2f).max(TANH_EXP_LO); // NaN passes
        FloatVector t = y.fma(LOG2E, ROUND_MAGIC);
        FloatVector p = expm1OfRemainder(y, t);
        FloatVector s = pow2(t.reinterpretAsInts().sub(ROUND_MAGIC_BITS)), twoS = s.add(s);
        FloatVector q = twoS.fma(p, twoS).div(s.fma(p, s.add(1f)));
        IntVector magnitude = one().sub(q).blend(small, a.lt(TANH_POLY_MAX)).reinterpretAsInts();
        return magnitude.or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
    }

    private static FloatVector one() { return FloatVector.broadcast(F, 1f); }
}
