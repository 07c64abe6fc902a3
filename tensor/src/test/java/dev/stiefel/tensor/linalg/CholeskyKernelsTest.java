package dev.stiefel.tensor.linalg;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The blocked kernels against the scalar loops they replace ({@link ScalarCholesky}), bit for bit, and against naive
 * f64 definitions, on odd sizes and sizes around the block, panel and slice boundaries (BLOCK = 96, PANEL = 384, KC = 512).
 */
class CholeskyKernelsTest {

    /**
     * An SPD matrix shaped like a GPTQ Hessian: X Xᵀ of correlated features with scales spread over e^±2, a few
     * exactly zero rows and columns (dead features) given a unit diagonal, and a small relative dampening.
     */
    static double[] hessianLike(int n, Random rnd) {
        int tokens = n + 16;
        double[] x = new double[n * tokens], scale = new double[n];
        for (int i = 0; i < n; i++) scale[i] = n > 3 && i % 11 == 5 ? 0 : Math.exp(2 * rnd.nextGaussian());
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextGaussian();
        for (int i = 1; i < n; i++)    // correlate neighbouring features
            for (int t = 0; t < tokens; t++) x[i * tokens + t] = 0.7 * x[(i - 1) * tokens + t] + x[i * tokens + t];
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int t = 0; t < tokens; t++) s += x[i * tokens + t] * x[j * tokens + t];
                h[i * n + j] = 2 * s * scale[i] * scale[j] / tokens;
            }
        double mean = 0;
        for (int i = 0; i < n; i++) {
            if (h[i * n + i] == 0) h[i * n + i] = 1;
            mean += h[i * n + i];
        }
        for (int i = 0; i < n; i++) h[i * n + i] += 0.01 * mean / n;
        return h;
    }

    private static void assertBitwise(double[] got, double[] want, String what) {
        assertThat(got).hasSize(want.length);
        for (int i = 0; i < want.length; i++)
            if (Double.doubleToRawLongBits(got[i]) != Double.doubleToRawLongBits(want[i]))
                throw new AssertionError(what + ": entry " + i + " is " + got[i] + ", the scalar loops give " + want[i]);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 33, 95, 96, 97, 193, 257, 385, 600})
    void factorizationInverseAndGramAreBitwiseTheScalarLoops(int n) {
        double[] a = hessianLike(n, new Random(7 + n));
        double[] u = a.clone();
        CholeskyKernels.factorUpper("test", u, n);
        double[] uRef = ScalarCholesky.upper(a, n);
        assertBitwise(u, uRef, "factorUpper");

        double[] w = CholeskyKernels.invertUpper(u, n);
        double[] wRef = ScalarCholesky.inverseUpper(uRef, n);
        assertBitwise(w, wRef, "invertUpper");

        double[] c = new double[n * n];
        CholeskyKernels.timesOwnTransposeUpper(w, n, c);
        double[] cRef = ScalarCholesky.timesOwnTranspose(wRef, n);
        assertBitwise(c, cRef, "timesOwnTransposeUpper");

        // choleskyUL: the scalar upper factor of the reversed matrix, read back reversed and transposed
        double[] reversed = new double[n * n];
        for (int i = 0; i < n * n; i++) reversed[i] = a[n * n - 1 - i];
        double[] vRef = ScalarCholesky.upper(reversed, n), rRef = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = i; j < n; j++) rRef[i * n + j] = vRef[(n - 1 - j) * n + (n - 1 - i)];
        assertBitwise(Linalg.choleskyUL(new DMatrix(n, n, a)).data, rRef, "choleskyUL");
    }

    /** R with A = R Rᵀ is upper triangular, and it is U⁻¹ for the upper factor U of A⁻¹ (GPTQ's factor). */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 7, 33, 97, 257})
    void choleskyULIsTheInverseOfTheUpperFactorOfTheInverse(int n) {
        double[] a = hessianLike(n, new Random(500 + n));
        double[] r = Linalg.choleskyUL(new DMatrix(n, n, a)).data;
        double[] u = Linalg.choleskyUpper(Linalg.choleskyInverse(new DMatrix(n, n, a))).data;
        double maxA = 0;
        for (double x : a) maxA = Math.max(maxA, Math.abs(x));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double rr = 0, ru = 0, size = 0;
                for (int k = 0; k < n; k++) {
                    rr += r[i * n + k] * r[j * n + k];   // (R Rᵀ)_ij = a_ij
                    ru += r[i * n + k] * u[k * n + j];   // (R U)_ij = δ_ij
                    size += Math.abs(r[i * n + k] * u[k * n + j]);
                }
                if (j < i) assertThat(r[i * n + j]).isZero();
                assertThat(rr).as("(R Rᵀ)_%d,%d", i, j).isCloseTo(a[i * n + j], org.assertj.core.data.Offset.offset(1e-12 * n * maxA));
                assertThat(ru).as("(R U)_%d,%d", i, j).isCloseTo(i == j ? 1 : 0, org.assertj.core.data.Offset.offset(1e-9 * n * size + 1e-300));
            }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33, 257})
    void kernelsMatchNaiveF64Definitions(int n) {
        Random rnd = new Random(300 + n);
        double[] a = hessianLike(n, rnd);
        double[] u = a.clone();
        CholeskyKernels.factorUpper("test", u, n);
        double[] w = CholeskyKernels.invertUpper(u, n);
        double[] c = new double[n * n];
        CholeskyKernels.timesOwnTransposeUpper(w, n, c);
        double maxA = 0, maxU = 0, maxW = 0, maxC = 0;
        for (int i = 0; i < n * n; i++) {
            maxA = Math.max(maxA, Math.abs(a[i]));
            maxU = Math.max(maxU, Math.abs(u[i]));
            maxW = Math.max(maxW, Math.abs(w[i]));
            maxC = Math.max(maxC, Math.abs(c[i]));
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double uu = 0, wu = 0, ww = 0;
                for (int k = 0; k < n; k++) {
                    uu += u[k * n + i] * u[k * n + j];   // (UᵀU)_ij = a_ij
                    wu += w[i * n + k] * u[k * n + j];   // (WU)_ij = δ_ij
                    ww += w[i * n + k] * w[j * n + k];   // (WWᵀ)_ij = c_ij
                }
                if (j < i) {
                    assertThat(u[i * n + j]).isZero();
                    assertThat(w[i * n + j]).isZero();
                }
                assertThat(Math.abs(uu - a[i * n + j])).as("UᵀU at (%d, %d)", i, j).isLessThanOrEqualTo(1e-12 * maxA);
                assertThat(Math.abs(wu - (i == j ? 1 : 0))).as("WU at (%d, %d)", i, j).isLessThanOrEqualTo(1e-12 * maxW * maxU);
                assertThat(Math.abs(ww - c[i * n + j])).as("WWᵀ at (%d, %d)", i, j).isLessThanOrEqualTo(1e-12 * maxC);
                assertThat(c[i * n + j]).isEqualTo(c[j * n + i]);
            }
        assertThat(maxW).isPositive();
    }

    @Test
    void subtractTileIsTheTextbookLoopOnFullAndEdgeTiles() {
        Random rnd = new Random(5);
        int mr = CholeskyKernels.MR, nr = CholeskyKernels.NR, steps = 37, ldc = nr + 3;
        double[] ap = new double[steps * mr], bp = new double[steps * nr];
        for (int i = 0; i < ap.length; i++) ap[i] = rnd.nextGaussian();
        for (int i = 0; i < bp.length; i++) bp[i] = rnd.nextGaussian() * Math.exp(3 * rnd.nextGaussian());
        for (int[] range : new int[][]{{0, steps}, {5, 30}, {12, 12}}) {
            double[] c = new double[mr * ldc];
            for (int i = 0; i < c.length; i++) c[i] = rnd.nextGaussian();
            double[] want = c.clone();
            for (int r = 0; r < mr; r++)
                for (int q = 0; q < nr; q++)
                    for (int p = range[0]; p < range[1]; p++) want[r * ldc + q] -= ap[p * mr + r] * bp[p * nr + q];
            CholeskyKernels.subtractTile(range[0], range[1], ap, 0, bp, 0, c, 0, ldc);
            assertBitwise(c, want, "subtractTile " + range[0] + ".." + range[1]);
        }
    }
}
