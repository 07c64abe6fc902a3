package dev.stiefel.tensor.cpu;

/** PLACEHOLDER: replaced by the Vector API kernel. */
public final class Sgemv {
    private Sgemv() {}

    public static void gemv(StridedMatrix a, float[] x, int xOff, float[] y, int yOff, boolean accumulate, int threads) {
        float[] c = new float[a.rows()];
        Sgemm.gemm(a, StridedMatrix.of(x, xOff, a.cols(), 1, 1, 1), c, 0, 1, false, threads);
        for (int i = 0; i < c.length; i++) y[yOff + i] = accumulate ? y[yOff + i] + c[i] : c[i];
    }
}
