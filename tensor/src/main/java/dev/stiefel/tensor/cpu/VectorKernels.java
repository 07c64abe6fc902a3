package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.backend.BinaryOp;
import dev.stiefel.tensor.backend.UnaryOp;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Element-wise and reduction kernels over contiguous f32 runs, on the Vector API. Tails use masked vector
 * operations rather than scalar loops, so every element goes through the same instructions wherever it sits
 * in the run: results never depend on the array's length or alignment.
 */
final class VectorKernels {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Doubles of the same register width: one float vector widens into two of these. */
    static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());
    static final int L = F.length();

    private VectorKernels() {}

    // ------------------------------------------------------------ unary

    static FloatVector one() { return FloatVector.broadcast(F, 1f); }

    private static FloatVector load(float[] a, int at) { return FloatVector.fromArray(F, a, at); }

    static FloatVector rsqrt(FloatVector v) { return one().div(v.sqrt()); }

    /** 1 / (1 + e^-x): saturates cleanly to 0 and 1 (e^-x = inf gives 0). */
    static FloatVector sigmoid(FloatVector v) { return one().div(v.neg().lanewise(VectorOperators.EXP).add(1f)); }

    /** x / (1 + e^-x), the SwiGLU gate. */
    static FloatVector silu(FloatVector v) { return v.div(v.neg().lanewise(VectorOperators.EXP).add(1f)); }

    private static final float ROUND_MAGIC = 8388608f; // 2^23: from here on every float is an integer

    /** The per-op vector function, for masked tails ({@link ElementwiseKernels} spells each op's main loop out). */
    static FloatVector apply(UnaryOp op, FloatVector v, float p0, float p1) {
        return switch (op) {
            case NEG -> v.neg();
            case EXP -> v.lanewise(VectorOperators.EXP);
            case LOG -> v.lanewise(VectorOperators.LOG);
            case SQRT -> v.sqrt();
            case RSQRT -> rsqrt(v);
            case TANH -> v.lanewise(VectorOperators.TANH);
            case SIGMOID -> sigmoid(v);
            case SILU -> silu(v);
            case ABS -> v.abs();
            case SQUARE -> v.mul(v);
            case RECIPROCAL -> one().div(v);
            case ROUND -> round(v);
            case ADD_SCALAR -> v.add(p0);
            case MUL_SCALAR -> v.mul(p0);
            case DIV_SCALAR -> v.div(p0);
            case POW_SCALAR -> v.lanewise(VectorOperators.POW, p0);
            case CLAMP -> v.max(p0).min(p1);
        };
    }

    /**
     * Round half to even without a scalar loop: for |x| < 2^23, (|x| + 2^23) − 2^23 leaves exactly the
     * integer nearest |x| under the FPU's round-to-nearest-even; larger magnitudes, infinities and NaN are
     * already integral (or not numbers) and pass through. The sign is put back so −0.3 rounds to −0.0.
     */
    static FloatVector round(FloatVector v) {
        FloatVector a = v.abs();
        FloatVector r = a.add(ROUND_MAGIC).sub(ROUND_MAGIC);
        IntVector sign = v.reinterpretAsInts().and(0x80000000);
        FloatVector signed = r.reinterpretAsInts().or(sign).reinterpretAsFloats();
        return v.blend(signed, a.lt(ROUND_MAGIC));
    }

    // ------------------------------------------------------------ binary

    /** 1 where the mask is set, 0 elsewhere. */
    static FloatVector indicator(VectorMask<Float> m) { return FloatVector.zero(F).blend(1f, m); }

    /** The per-op vector function, for masked tails. */
    static FloatVector apply(BinaryOp op, FloatVector x, FloatVector y) {
        return switch (op) {
            case ADD -> x.add(y);
            case SUB -> x.sub(y);
            case MUL -> x.mul(y);
            case DIV -> x.div(y);
            case POW -> x.lanewise(VectorOperators.POW, y);
            case MAX -> x.max(y);
            case MIN -> x.min(y);
            case GT -> indicator(x.compare(VectorOperators.GT, y));
            case GE -> indicator(x.compare(VectorOperators.GE, y));
            case LT -> indicator(x.compare(VectorOperators.LT, y));
            case LE -> indicator(x.compare(VectorOperators.LE, y));
            case EQ -> indicator(x.compare(VectorOperators.EQ, y));
        };
    }

    // ------------------------------------------------------------ reductions

    /** Σ x in f64: each float vector widens into two double vectors before it is added. */
    static double sum(float[] x, int xo, int n) {
        DoubleVector acc0 = DoubleVector.zero(D), acc1 = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            acc0 = acc0.add((DoubleVector) v.convertShape(VectorOperators.F2D, D, 0));
            acc1 = acc1.add((DoubleVector) v.convertShape(VectorOperators.F2D, D, 1));
        }
        double s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += x[xo + i];
        return s;
    }

    /** Σ x² in f64. */
    static double sumSquares(float[] x, int xo, int n) {
        DoubleVector acc0 = DoubleVector.zero(D), acc1 = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            DoubleVector d0 = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 0);
            DoubleVector d1 = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 1);
            acc0 = d0.fma(d0, acc0);
            acc1 = d1.fma(d1, acc1);
        }
        double s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += (double) x[xo + i] * x[xo + i];
        return s;
    }

    /** Σ (x − c)² in f64, for the second pass of a variance. */
    static double sumSquaredDeviations(float[] x, int xo, int n, double c) {
        DoubleVector acc0 = DoubleVector.zero(D), acc1 = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            DoubleVector d0 = ((DoubleVector) v.convertShape(VectorOperators.F2D, D, 0)).sub(c);
            DoubleVector d1 = ((DoubleVector) v.convertShape(VectorOperators.F2D, D, 1)).sub(c);
            acc0 = d0.fma(d0, acc0);
            acc1 = d1.fma(d1, acc1);
        }
        double s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) { double d = x[xo + i] - c; s += d * d; }
        return s;
    }

    /** max x (NaN if any element is NaN); -inf for n = 0. */
    static float max(float[] x, int xo, int n) {
        FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) acc = acc.max(load(x, xo + i));
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            acc = acc.lanewise(VectorOperators.MAX, FloatVector.fromArray(F, x, xo + i, m), m);
        }
        return acc.reduceLanes(VectorOperators.MAX);
    }

    static float min(float[] x, int xo, int n) {
        FloatVector acc = FloatVector.broadcast(F, Float.POSITIVE_INFINITY);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) acc = acc.min(load(x, xo + i));
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            acc = acc.lanewise(VectorOperators.MIN, FloatVector.fromArray(F, x, xo + i, m), m);
        }
        return acc.reduceLanes(VectorOperators.MIN);
    }

    /** out = exp(x − shift) (when out is not null), returning Σ exp(x − shift) in f64: softmax's numerator and denominator in one pass. */
    static double expShiftedSum(float[] x, int xo, float shift, float[] out, int oo, int n) {
        DoubleVector acc0 = DoubleVector.zero(D), acc1 = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector e = load(x, xo + i).sub(shift).lanewise(VectorOperators.EXP);
            if (out != null) e.intoArray(out, oo + i);
            acc0 = acc0.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, 0));
            acc1 = acc1.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, 1));
        }
        double s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector e = FloatVector.fromArray(F, x, xo + i, m).sub(shift).lanewise(VectorOperators.EXP);
            if (out != null) e.intoArray(out, oo + i, m);
            float[] tail = new float[L];
            e.intoArray(tail, 0, m);
            for (int j = 0; j < n - i; j++) s += tail[j];
        }
        return s;
    }

    /** out = w ⊙ (s·x), RMSNorm's last step. */
    static void scaleMul(float[] x, int xo, float s, float[] w, int wo, float[] out, int oo, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) load(w, wo + i).mul(load(x, xo + i).mul(s)).intoArray(out, oo + i);
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, x, xo + i, m).mul(s);
            FloatVector.fromArray(F, w, wo + i, m).mul(v).intoArray(out, oo + i, m);
        }
    }
}
