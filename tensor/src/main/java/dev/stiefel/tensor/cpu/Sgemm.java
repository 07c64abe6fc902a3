package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.Parallel;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** PLACEHOLDER naive gemm, replaced by the packed Vector API kernel. */
public final class Sgemm {
    private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Sgemm() {}

    public static void gemm(StridedMatrix a, StridedMatrix b, float[] c, int cOff, int ldc, boolean accumulate, int threads) {
        if (a.cols() != b.rows())
            throw new IllegalArgumentException("gemm: A is " + a.rows() + "x" + a.cols() + " but B is " + b.rows() + "x" + b.cols());
        int m = a.rows(), n = b.cols(), k = a.cols();
        Parallel.forRange(m, threads, 1, (from, to) -> {
            for (int i = from; i < to; i++)
                for (int j = 0; j < n; j++) {
                    float s = accumulate ? c[cOff + i * ldc + j] : 0f;
                    for (int p = 0; p < k; p++) s += get(a, i, p) * get(b, p, j);
                    c[cOff + i * ldc + j] = s;
                }
        });
    }

    private static float get(StridedMatrix x, int i, int j) {
        long at = x.offset() + i * x.rowStride() + j * x.colStride();
        return x.array() != null ? x.array()[(int) at] : x.segment().getAtIndex(LE, at);
    }
}
