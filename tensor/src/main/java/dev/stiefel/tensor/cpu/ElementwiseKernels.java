package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.backend.BinaryOp;
import dev.stiefel.tensor.backend.UnaryOp;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static dev.stiefel.tensor.cpu.VectorKernels.F;
import static dev.stiefel.tensor.cpu.VectorKernels.L;

/**
 * The contiguous loops of the element-wise ops: one lambda per op, reached through a table by the op's
 * ordinal. Why a table of lambdas and not a switch over loops in one method: C2 compiles a method with the
 * branches it has seen taken so far, and recompiles it when another op first runs. With every op's loop in
 * one method, the ops that ran first got fully inlined vector code and those that came later ran out of
 * C2's inlining budget and boxed every vector: the same op ran 3-10x slower depending on which ops the
 * process had used before (exp 1.3 ms against 0.1 ms for silu on 352K elements; add 0.54 ms or 0.07 ms
 * depending on the order). Each lambda here is its own compilation unit, and the call through the table is
 * megamorphic, so it is never inlined into a shared caller.
 *
 * <p>Main loops run whole vectors; the tail goes through {@link VectorKernels#apply} under a mask, once per
 * call, so the last elements get exactly the same arithmetic as the rest. exp, log and tanh are
 * {@link VectorMath}'s, not the Vector API's lane-wise EXP/LOG/TANH, whose results change when C2 compiles the
 * loop; pow is a scalar loop over {@code Math.pow}, for the same reason.
 */
final class ElementwiseKernels {
    private ElementwiseKernels() {}

    /** out[oo..oo+n) = op(x[xo..xo+n)); x and out may be the same array at the same offset. */
    @FunctionalInterface
    interface UnaryLoop { void run(float[] x, int xo, float[] out, int oo, int n, float p0, float p1); }

    /**
     * out[oo..oo+n) = a op b where each operand either advances with the run (stride 1) or is one scalar
     * broadcast over it (stride 0, read at its offset). Not both scalar.
     */
    @FunctionalInterface
    interface BinaryLoop { void run(float[] a, int ao, int sa, float[] b, int bo, int sb, float[] out, int oo, int n); }

    private static final UnaryLoop[] UNARY = new UnaryLoop[UnaryOp.values().length];
    private static final BinaryLoop[] BINARY = new BinaryLoop[BinaryOp.values().length];

    static void unary(UnaryOp op, float[] x, int xo, float[] out, int oo, int n, float p0, float p1) {
        UNARY[op.ordinal()].run(x, xo, out, oo, n, p0, p1);
    }

    static void binary(BinaryOp op, float[] a, int ao, int sa, float[] b, int bo, int sb, float[] out, int oo, int n) {
        BINARY[op.ordinal()].run(a, ao, sa, b, bo, sb, out, oo, n);
    }

    private static FloatVector load(float[] a, int at) { return FloatVector.fromArray(F, a, at); }

    private static void unaryTail(UnaryOp op, float[] x, int xo, float[] out, int oo, int i, int n, float p0, float p1) {
        if (i >= n) return;
        VectorMask<Float> m = F.indexInRange(i, n);
        VectorKernels.apply(op, FloatVector.fromArray(F, x, xo + i, m), p0, p1).intoArray(out, oo + i, m);
    }

    private static void binaryTail(BinaryOp op, float[] a, int ao, int sa, float[] b, int bo, int sb, float[] out, int oo, int i, int n) {
        if (i >= n) return;
        VectorMask<Float> m = F.indexInRange(i, n);
        FloatVector x = sa == 0 ? FloatVector.broadcast(F, a[ao]) : FloatVector.fromArray(F, a, ao + i, m);
        FloatVector y = sb == 0 ? FloatVector.broadcast(F, b[bo]) : FloatVector.fromArray(F, b, bo + i, m);
        VectorKernels.apply(op, x, y).intoArray(out, oo + i, m);
    }

    static {
        UNARY[UnaryOp.NEG.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.neg().intoArray(out, oo + i); }
            unaryTail(UnaryOp.NEG, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.EXP.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorMath.exp(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.EXP, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.LOG.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorMath.log(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.LOG, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.SQRT.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.sqrt().intoArray(out, oo + i); }
            unaryTail(UnaryOp.SQRT, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.RSQRT.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorKernels.rsqrt(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.RSQRT, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.TANH.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorMath.tanh(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.TANH, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.SIGMOID.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorKernels.sigmoid(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.SIGMOID, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.SILU.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorKernels.silu(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.SILU, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.ABS.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.abs().intoArray(out, oo + i); }
            unaryTail(UnaryOp.ABS, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.SQUARE.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.mul(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.SQUARE, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.RECIPROCAL.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorKernels.one().div(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.RECIPROCAL, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.ROUND.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); VectorMath.round(v).intoArray(out, oo + i); }
            unaryTail(UnaryOp.ROUND, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.ADD_SCALAR.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.add(p0).intoArray(out, oo + i); }
            unaryTail(UnaryOp.ADD_SCALAR, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.MUL_SCALAR.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.mul(p0).intoArray(out, oo + i); }
            unaryTail(UnaryOp.MUL_SCALAR, x, xo, out, oo, i, n, p0, p1);
        };
        UNARY[UnaryOp.DIV_SCALAR.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.div(p0).intoArray(out, oo + i); }
            unaryTail(UnaryOp.DIV_SCALAR, x, xo, out, oo, i, n, p0, p1);
        };
        // pow: Math.pow per element (the Vector API's POW differs between JIT tiers, see VectorMath), except the
        // squares, whose Math.pow is exactly x·x (the product of two floats is exact in f64), so the vector square
        // gives the same bits
        UNARY[UnaryOp.POW_SCALAR.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            if (p0 == 2f) {
                UNARY[UnaryOp.SQUARE.ordinal()].run(x, xo, out, oo, n, p0, p1);
                return;
            }
            for (int i = 0; i < n; i++) out[oo + i] = (float) Math.pow(x[xo + i], p0);
        };
        UNARY[UnaryOp.CLAMP.ordinal()] = (x, xo, out, oo, n, p0, p1) -> {
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += L) { FloatVector v = load(x, xo + i); v.max(p0).min(p1).intoArray(out, oo + i); }
            unaryTail(UnaryOp.CLAMP, x, xo, out, oo, i, n, p0, p1);
        };
        BINARY[BinaryOp.ADD.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); x.add(y).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); x.add(y).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); x.add(y).intoArray(out, oo + i); }
            binaryTail(BinaryOp.ADD, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.SUB.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); x.sub(y).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); x.sub(y).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); x.sub(y).intoArray(out, oo + i); }
            binaryTail(BinaryOp.SUB, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.MUL.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); x.mul(y).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); x.mul(y).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); x.mul(y).intoArray(out, oo + i); }
            binaryTail(BinaryOp.MUL, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.DIV.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); x.div(y).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); x.div(y).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); x.div(y).intoArray(out, oo + i); }
            binaryTail(BinaryOp.DIV, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.POW.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            for (int i = 0; i < n; i++) out[oo + i] = (float) Math.pow(a[ao + i * sa], b[bo + i * sb]);
        };
        BINARY[BinaryOp.MAX.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); x.max(y).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); x.max(y).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); x.max(y).intoArray(out, oo + i); }
            binaryTail(BinaryOp.MAX, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.MIN.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); x.min(y).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); x.min(y).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); x.min(y).intoArray(out, oo + i); }
            binaryTail(BinaryOp.MIN, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.GT.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); VectorKernels.indicator(x.compare(VectorOperators.GT, y)).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.GT, y)).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.GT, y)).intoArray(out, oo + i); }
            binaryTail(BinaryOp.GT, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.GE.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); VectorKernels.indicator(x.compare(VectorOperators.GE, y)).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.GE, y)).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.GE, y)).intoArray(out, oo + i); }
            binaryTail(BinaryOp.GE, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.LT.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); VectorKernels.indicator(x.compare(VectorOperators.LT, y)).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.LT, y)).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.LT, y)).intoArray(out, oo + i); }
            binaryTail(BinaryOp.LT, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.LE.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); VectorKernels.indicator(x.compare(VectorOperators.LE, y)).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.LE, y)).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.LE, y)).intoArray(out, oo + i); }
            binaryTail(BinaryOp.LE, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
        BINARY[BinaryOp.EQ.ordinal()] = (a, ao, sa, b, bo, sb, out, oo, n) -> {
            int i = 0, bound = F.loopBound(n);
            if (sb == 0) { FloatVector y = FloatVector.broadcast(F, b[bo]); for (; i < bound; i += L) { FloatVector x = load(a, ao + i); VectorKernels.indicator(x.compare(VectorOperators.EQ, y)).intoArray(out, oo + i); } }
            else if (sa == 0) { FloatVector x = FloatVector.broadcast(F, a[ao]); for (; i < bound; i += L) { FloatVector y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.EQ, y)).intoArray(out, oo + i); } }
            else for (; i < bound; i += L) { FloatVector x = load(a, ao + i), y = load(b, bo + i); VectorKernels.indicator(x.compare(VectorOperators.EQ, y)).intoArray(out, oo + i); }
            binaryTail(BinaryOp.EQ, a, ao, sa, b, bo, sb, out, oo, i, n);
        };
    }
}
