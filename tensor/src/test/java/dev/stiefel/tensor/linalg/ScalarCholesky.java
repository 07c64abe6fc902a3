package dev.stiefel.tensor.linalg;

import java.util.Arrays;

/**
 * The scalar Cholesky, triangular inverse and Gram product that {@link Linalg} used before {@link CholeskyKernels}
 * (kept verbatim in their arithmetic, as the bitwise reference of the blocked kernels): every entry's products are
 * subtracted one at a time in increasing k, multiply then subtract. quant's tests build GPTQ's old solver on them.
 */
public final class ScalarCholesky {
    private ScalarCholesky() {}

    /** The upper U with A = UᵀU: blocked right-looking rows of 64, the inner loops along contiguous rows. */
    public static double[] upper(double[] a, int n) {
        final double[] u = a.clone();
        final int block = 64;
        for (int k0 = 0; k0 < n; k0 += block) {
            final int b0 = k0, b1 = Math.min(n, k0 + block);
            for (int k = b0; k < b1; k++) {
                int rk = k * n;
                double pivot = u[rk + k];
                if (!(pivot > 0)) throw new IllegalArgumentException("pivot " + k + " is " + pivot);
                double r = Math.sqrt(pivot);
                u[rk + k] = r;
                for (int j = k + 1; j < n; j++) u[rk + j] /= r;
                for (int i = k + 1; i < b1; i++) {
                    double f = u[rk + i];
                    int ri = i * n;
                    for (int j = i; j < n; j++) u[ri + j] -= f * u[rk + j];
                }
            }
            for (int i = b1; i < n; i++) {
                int ri = i * n;
                for (int k = b0; k < b1; k++) {
                    int rk = k * n;
                    double f = u[rk + i];
                    for (int j = i; j < n; j++) u[ri + j] -= f * u[rk + j];
                }
            }
        }
        for (int i = 1; i < n; i++) Arrays.fill(u, i * n, i * n + i, 0.0);
        return u;
    }

    /** U⁻¹ by back substitution on tiles of 64 identity columns, skipping the known zeros of the triangular result. */
    public static double[] inverseUpper(double[] u, int n) {
        final int tile = 64;
        double[] x = new double[n * n];
        for (int i = 0; i < n; i++) x[i * n + i] = 1;
        for (int c0 = 0; c0 < n; c0 += tile) {
            int w = Math.min(tile, n - c0), rows = Math.min(n, c0 + w);
            double[] buf = new double[rows * w];
            for (int i = 0; i < rows; i++) System.arraycopy(x, i * n + c0, buf, i * w, w);
            for (int i = rows - 1; i >= 0; i--) {
                int bi = i * w, ri = i * n;
                for (int k = i + 1; k < rows; k++) {
                    double f = u[ri + k];
                    int bk = k * w, from = Math.max(0, k - c0);
                    for (int q = from; q < w; q++) buf[bi + q] -= f * buf[bk + q];
                }
                double diag = u[ri + i];
                for (int q = 0; q < w; q++) buf[bi + q] /= diag;
            }
            for (int i = 0; i < rows; i++) System.arraycopy(buf, i * w, x, i * n + c0, w);
        }
        return x;
    }

    /** W·Wᵀ for an upper-triangular W: c_ij = Σ_{k ≥ max(i,j)} w_ik w_jk from +0 in increasing k, mirrored. */
    public static double[] timesOwnTranspose(double[] w, int n) {
        double[] c = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int k = i; k < n; k++) {
                double f = w[i * n + k];
                for (int j = i; j <= k; j++) c[i * n + j] += f * w[j * n + k];
            }
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) c[j * n + i] = c[i * n + j];
        return c;
    }
}
