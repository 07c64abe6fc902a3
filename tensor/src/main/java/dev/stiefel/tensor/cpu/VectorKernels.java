package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.backend.BinaryOp;
import dev.stiefel.tensor.backend.UnaryOp;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Element-wise and reduction kernels over contiguous f32 runs, on the Vector API. Tails use masked vector
 * operations rather than scalar loops, so every element goes through the same instructions wherever it sits
 * in the run: results never depend on the array's length or alignment.
 *
 * <p>Determinism: lane sums go through {@link VectorMath#sum} and exp/log/tanh through {@link VectorMath}, never
 * through {@code reduceLanes(ADD)} or {@code lanewise(EXP, ...)}, whose results change when C2 compiles the caller
 * (see {@link VectorMath}); pow takes {@code Math.pow} per element, which HotSpot computes the same way in every
 * tier.
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
    static FloatVector sigmoid(FloatVector v) { return one().div(VectorMath.exp(v.neg()).add(1f)); }

    /** x / (1 + e^-x), the SwiGLU gate. */
    static FloatVector silu(FloatVector v) { return v.div(VectorMath.exp(v.neg()).add(1f)); }


    /** The per-op vector function, for masked tails ({@link ElementwiseKernels} spells each op's main loop out). */
    static FloatVector apply(UnaryOp op, FloatVector v, float p0, float p1) {
        return switch (op) {
            case NEG -> v.neg();
            case EXP -> VectorMath.exp(v);
            case LOG -> VectorMath.log(v);
            case SQRT -> v.sqrt();
            case RSQRT -> rsqrt(v);
            case TANH -> VectorMath.tanh(v);
            case SIGMOID -> sigmoid(v);
            case SILU -> silu(v);
            case ABS -> v.abs();
            case SQUARE -> v.mul(v);
            case RECIPROCAL -> one().div(v);
            case ROUND -> VectorMath.round(v);
            case ADD_SCALAR -> v.add(p0);
            case MUL_SCALAR -> v.mul(p0);
            case DIV_SCALAR -> v.div(p0);
            case POW_SCALAR -> throw new AssertionError("pow runs per element in ElementwiseKernels (Math.pow), never through the vector path");
            case CLAMP -> v.max(p0).min(p1);
        };
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
            case POW -> throw new AssertionError("pow runs per element in ElementwiseKernels (Math.pow), never through the vector path");
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
        double s = VectorMath.sum(acc0.add(acc1));
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
        double s = VectorMath.sum(acc0.add(acc1));
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
        double s = VectorMath.sum(acc0.add(acc1));
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
            FloatVector e = VectorMath.exp(load(x, xo + i).sub(shift));
            if (out != null) e.intoArray(out, oo + i);
            acc0 = acc0.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, 0));
            acc1 = acc1.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, 1));
        }
        double s = VectorMath.sum(acc0.add(acc1));
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector e = VectorMath.exp(FloatVector.fromArray(F, x, xo + i, m).sub(shift));
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

    // ------------------------------------------------------------ fused rows for attention and backward rules

    /** Σ a·b in f64 (both widened before the multiply-add). */
    static double dot(float[] a, int ao, float[] b, int bo, int n) {
        DoubleVector acc0 = DoubleVector.zero(D), acc1 = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector x = load(a, ao + i), y = load(b, bo + i);
            acc0 = ((DoubleVector) x.convertShape(VectorOperators.F2D, D, 0)).fma((DoubleVector) y.convertShape(VectorOperators.F2D, D, 0), acc0);
            acc1 = ((DoubleVector) x.convertShape(VectorOperators.F2D, D, 1)).fma((DoubleVector) y.convertShape(VectorOperators.F2D, D, 1), acc1);
        }
        double s = VectorMath.sum(acc0.add(acc1));
        for (; i < n; i++) s += (double) a[ao + i] * b[bo + i];
        return s;
    }

    /**
     * s = scale·s + mask in place (mask may be null), returning the row's max: the first pass of a scaled,
     * masked softmax (attention scores).
     */
    static float scaleAddMax(float[] s, int so, float scale, float[] mask, int mo, int n) {
        FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = load(s, so + i).mul(scale);
            if (mask != null) v = v.add(load(mask, mo + i));
            v.intoArray(s, so + i);
            acc = acc.max(v);
        }
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, s, so + i, m).mul(scale);
            if (mask != null) v = v.add(FloatVector.fromArray(F, mask, mo + i, m));
            v.intoArray(s, so + i, m);
            acc = acc.lanewise(VectorOperators.MAX, v, m);
        }
        return acc.reduceLanes(VectorOperators.MAX);
    }

    /**
     * One row of the softmax gradient from its output y: out = scale·y ⊙ (g − Σ g⊙y), the sum in f64 (scale = 1
     * for a plain softmax; attention folds its score scale in here). out may be g itself.
     */
    static void softmaxBackwardRow(float[] y, int yo, float[] g, int go, float[] out, int oo, int n, float scale) {
        float gy = (float) dot(g, go, y, yo, n);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L)
            load(g, go + i).sub(gy).mul(load(y, yo + i)).mul(scale).intoArray(out, oo + i);
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector.fromArray(F, g, go + i, m).sub(gy).mul(FloatVector.fromArray(F, y, yo + i, m)).mul(scale).intoArray(out, oo + i, m);
        }
    }

    /**
     * One row of the RMSNorm gradient. With y = w ⊙ x·r and r = (mean(x²) + eps)^(−1/2):
     * dx = r·(g⊙w) − x·r³·mean(g⊙w⊙x), and g⊙x·r is added into {@code dw} (the weight's gradient, summed over
     * rows by the caller). Σx² and Σ g⊙w⊙x accumulate in f64.
     *
     * <p>Three short loops in three methods, not one method with both passes: in one method, C2 ran out of its
     * inlining budget (NodeCountInliningCutoff) before the second loop, and that loop boxed its vectors (5x slower).
     */
    static void rmsNormBackwardRow(float[] x, int xo, float[] w, int wo, float[] g, int go, float[] dx, int dxo,
                                   float[] dw, int n, float eps) {
        double r = 1.0 / Math.sqrt(sumSquares(x, xo, n) / n + eps);
        double gwx = dot3(g, go, w, wo, x, xo, n);
        rmsNormBackwardScale(x, xo, w, wo, g, go, dx, dxo, dw, n, (float) r, (float) (r * r * r * gwx / n));
    }

    /** Σ a⊙b⊙c, the product of a and b rounded to f32, the sum in f64. */
    static double dot3(float[] a, int ao, float[] b, int bo, float[] c, int co, int n) {
        DoubleVector acc0 = DoubleVector.zero(D), acc1 = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector ab = load(a, ao + i).mul(load(b, bo + i)), z = load(c, co + i);
            acc0 = ((DoubleVector) ab.convertShape(VectorOperators.F2D, D, 0)).fma((DoubleVector) z.convertShape(VectorOperators.F2D, D, 0), acc0);
            acc1 = ((DoubleVector) ab.convertShape(VectorOperators.F2D, D, 1)).fma((DoubleVector) z.convertShape(VectorOperators.F2D, D, 1), acc1);
        }
        double s = VectorMath.sum(acc0.add(acc1));
        for (; i < n; i++) s += (double) (a[ao + i] * b[bo + i]) * c[co + i];
        return s;
    }

    /** dx = r·(g⊙w) − c·x and dw += r·(g⊙x): the second pass of {@link #rmsNormBackwardRow}. */
    private static void rmsNormBackwardScale(float[] x, int xo, float[] w, int wo, float[] g, int go, float[] dx, int dxo,
                                             float[] dw, int n, float r, float c) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector xv = load(x, xo + i), gv = load(g, go + i);
            gv.mul(load(w, wo + i)).mul(r).sub(xv.mul(c)).intoArray(dx, dxo + i);
            gv.mul(xv).mul(r).add(load(dw, i)).intoArray(dw, i);
        }
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector xv = FloatVector.fromArray(F, x, xo + i, m), gv = FloatVector.fromArray(F, g, go + i, m);
            gv.mul(FloatVector.fromArray(F, w, wo + i, m)).mul(r).sub(xv.mul(c)).intoArray(dx, dxo + i, m);
            gv.mul(xv).mul(r).add(FloatVector.fromArray(F, dw, i, m)).intoArray(dw, i, m);
        }
    }

    /** out = silu(gate) ⊙ up, the SwiGLU product (Shazeer 2020, eq. 6). */
    static void swiglu(float[] gate, int go, float[] up, int uo, float[] out, int oo, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) silu(load(gate, go + i)).mul(load(up, uo + i)).intoArray(out, oo + i);
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            silu(FloatVector.fromArray(F, gate, go + i, m)).mul(FloatVector.fromArray(F, up, uo + i, m)).intoArray(out, oo + i, m);
        }
    }

    /**
     * Gradients of silu(a)⊙u from the output gradient g: da = g⊙u⊙σ(a)·(1 + a·(1 − σ(a))) and du = g⊙silu(a).
     * The masked tail is its own method, which keeps this loop inside C2's inlining budget.
     */
    static void swigluBackward(float[] gate, int go, float[] up, int uo, float[] g, int gro, float[] dGate, float[] dUp, int oo, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector a = load(gate, go + i), gv = load(g, gro + i), s = sigmoid(a);
            gv.mul(load(up, uo + i)).mul(one().sub(s).mul(a).add(1f).mul(s)).intoArray(dGate, oo + i);
            gv.mul(a.mul(s)).intoArray(dUp, oo + i);
        }
        if (i < n) swigluBackwardTail(gate, go, up, uo, g, gro, dGate, dUp, oo, i, n);
    }

    private static void swigluBackwardTail(float[] gate, int go, float[] up, int uo, float[] g, int gro, float[] dGate, float[] dUp, int oo, int i, int n) {
        VectorMask<Float> m = F.indexInRange(i, n);
        FloatVector a = FloatVector.fromArray(F, gate, go + i, m), gv = FloatVector.fromArray(F, g, gro + i, m), s = sigmoid(a);
        gv.mul(FloatVector.fromArray(F, up, uo + i, m)).mul(one().sub(s).mul(a).add(1f).mul(s)).intoArray(dGate, oo + i, m);
        gv.mul(a.mul(s)).intoArray(dUp, oo + i, m);
    }

    /** The gradient of silu alone: dx = g⊙σ(x)·(1 + x·(1 − σ(x))). */
    static void siluBackward(float[] x, int xo, float[] g, int go, float[] dx, int oo, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector a = load(x, xo + i), s = sigmoid(a);
            load(g, go + i).mul(one().sub(s).mul(a).add(1f).mul(s)).intoArray(dx, oo + i);
        }
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector a = FloatVector.fromArray(F, x, xo + i, m), s = sigmoid(a);
            FloatVector.fromArray(F, g, go + i, m).mul(one().sub(s).mul(a).add(1f).mul(s)).intoArray(dx, oo + i, m);
        }
    }

    // ------------------------------------------------------------ RoPE

    /** Lane i takes lane i ^ 1: swaps the two features of each interleaved pair. */
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);

    /**
     * One head's features in interleaved pairs (2i, 2i+1) rotated by RoFormer eq. 34:
     * (x₀·c − x₁·s, x₁·c + x₀·s), computed as x·cos + swap(x)·sin with the tables of {@link RopeTables}.
     * {@code n} is even and so is L, so a masked tail never splits a pair.
     */
    static void ropeInterleavedRow(float[] x, int xo, float[] cos, float[] sin, int to, float[] out, int oo, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = load(x, xo + i);
            v.mul(load(cos, to + i)).add(v.rearrange(SWAP_PAIRS).mul(load(sin, to + i))).intoArray(out, oo + i);
        }
        if (i < n) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, x, xo + i, m);
            v.mul(FloatVector.fromArray(F, cos, to + i, m)).add(v.rearrange(SWAP_PAIRS).mul(FloatVector.fromArray(F, sin, to + i, m)))
                    .intoArray(out, oo + i, m);
        }
    }

    /** One head rotated in pairs (i, i + half), the "rotate half" layout: (a·c − b·s, b·c + a·s). */
    static void ropeHalfRow(float[] x, int xo, float[] cos, float[] sin, int to, float[] out, int oo, int half) {
        int i = 0;
        for (int bound = F.loopBound(half); i < bound; i += L) {
            FloatVector a = load(x, xo + i), b = load(x, xo + half + i), c = load(cos, to + i), s = load(sin, to + i);
            a.mul(c).sub(b.mul(s)).intoArray(out, oo + i);
            b.mul(c).add(a.mul(s)).intoArray(out, oo + half + i);
        }
        if (i < half) {
            VectorMask<Float> m = F.indexInRange(i, half);
            FloatVector a = FloatVector.fromArray(F, x, xo + i, m), b = FloatVector.fromArray(F, x, xo + half + i, m);
            FloatVector c = FloatVector.fromArray(F, cos, to + i, m), s = FloatVector.fromArray(F, sin, to + i, m);
            a.mul(c).sub(b.mul(s)).intoArray(out, oo + i, m);
            b.mul(c).add(a.mul(s)).intoArray(out, oo + half + i, m);
        }
    }
}
