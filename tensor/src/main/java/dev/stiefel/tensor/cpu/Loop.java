package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.Parallel;

/**
 * A loop nest over a shape for several operands with their own strides, collapsed as far as the strides
 * allow: dimensions of size 1 drop out and neighbours that are contiguous for every operand merge. What is
 * left is an outer odometer and one inner run of {@code inner} elements, so a contiguous tensor of any rank
 * is a single run and kernels see long, simple inner loops.
 */
final class Loop {
    /** Called once per inner run with each operand's storage index of the run's first element. */
    @FunctionalInterface
    interface Body { void run(int[] offsets, int inner); }

    final int inner;
    final int[] innerStride;
    private final int[] outerShape;
    private final int[][] outerStride; // [operand][dim]
    private final int[] base;
    private final int outerCount;

    /** {@code strides[op]} and {@code offsets[op]} describe operand {@code op} over the common {@code shape}. */
    Loop(int[] shape, int[] offsets, int[]... strides) {
        int ops = strides.length;
        int nd = 0;
        int[] cs = new int[shape.length];
        int[][] cst = new int[ops][shape.length];
        // walk from the innermost dimension, merging into the current one while every operand stays contiguous
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] == 1) continue;
            if (nd > 0) {
                boolean merge = true;
                for (int o = 0; o < ops && merge; o++) merge = strides[o][d] == cst[o][nd - 1] * cs[nd - 1];
                if (merge) { cs[nd - 1] *= shape[d]; continue; }
            }
            cs[nd] = shape[d];
            for (int o = 0; o < ops; o++) cst[o][nd] = strides[o][d];
            nd++;
        }
        int count = 1;
        for (int s : shape) count *= s;
        if (nd == 0) { // a single element (or none)
            inner = count == 0 ? 0 : 1;
            innerStride = new int[ops];
            outerShape = new int[0];
            outerStride = new int[ops][0];
        } else {
            inner = cs[0];
            innerStride = new int[ops];
            for (int o = 0; o < ops; o++) innerStride[o] = cst[o][0];
            // outer dims stored outermost first
            outerShape = new int[nd - 1];
            outerStride = new int[ops][nd - 1];
            for (int i = 0; i < nd - 1; i++) {
                outerShape[i] = cs[nd - 1 - i];
                for (int o = 0; o < ops; o++) outerStride[o][i] = cst[o][nd - 1 - i];
            }
        }
        base = offsets.clone();
        outerCount = inner == 0 ? 0 : count / inner;
    }

    int outerCount() { return outerCount; }

    /** Runs the body over every inner run, splitting the runs over up to {@code threads} threads. */
    void run(int threads, Body body) {
        if (outerCount == 0) return;
        int grain = Math.max(1, CpuBackend.PARALLEL_ELEMENTS / Math.max(1, inner));
        Parallel.forRange(outerCount, threads, grain, (from, to) -> runRange(from, to, body));
    }

    private void runRange(int from, int to, Body body) {
        int ops = base.length, nd = outerShape.length;
        int[] idx = new int[nd];
        int[] off = base.clone();
        // position the odometer at run `from`
        int rest = from;
        for (int i = nd - 1; i >= 0; i--) {
            idx[i] = rest % outerShape[i];
            rest /= outerShape[i];
            for (int o = 0; o < ops; o++) off[o] += idx[i] * outerStride[o][i];
        }
        for (int r = from; r < to; r++) {
            body.run(off, inner);
            for (int i = nd - 1; i >= 0; i--) { // advance the odometer
                for (int o = 0; o < ops; o++) off[o] += outerStride[o][i];
                if (++idx[i] < outerShape[i]) break;
                for (int o = 0; o < ops; o++) off[o] -= outerStride[o][i] * outerShape[i];
                idx[i] = 0;
            }
        }
    }
}
