package dev.stiefel.quant.flat;

import dev.stiefel.autograd.GradCheck;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The Kronecker product applied as two small matmuls, against the dense n1·n2 × n1·n2 matrix in f64; the inverse op. */
class KroneckerTest {

    private static double[][] dense(float[] a, int n1, float[] b, int n2) {
        int n = n1 * n2;
        double[][] k = new double[n][n];
        for (int i = 0; i < n1; i++) for (int j = 0; j < n1; j++)
            for (int p = 0; p < n2; p++) for (int q = 0; q < n2; q++) k[i * n2 + p][j * n2 + q] = (double) a[i * n1 + j] * b[p * n2 + q];
        return k;
    }

    private static float[] identity(int n) {
        float[] f = new float[n * n];
        for (int i = 0; i < n; i++) f[i * n + i] = 1;
        return f;
    }

    /** x·(A ⊗ B) on rows of odd sizes, with either factor the identity too: f32 within 1e-5 of f64, f64 within 1e-12. */
    @Test void twoSmallMatmulsEqualTheDenseKroneckerProduct() {
        Random rnd = new Random(7);
        int[][] sizes = {{1, 7}, {3, 5}, {7, 11}, {5, 1}, {2, 13}};
        for (int[] s : sizes) {
            int n1 = s[0], n2 = s[1], n = n1 * n2, rows = 9;
            Tensor x = Tensor.randn(rnd, 3, 3, n), a = Tensor.randn(rnd, n1, n1), b = Tensor.randn(rnd, n2, n2);
            for (int mode = 0; mode < 3; mode++) {
                Tensor left = mode == 2 ? null : a, right = mode == 1 ? null : b;
                double[][] k = dense(left == null ? identity(n1) : a.toFloatArray(), n1, right == null ? identity(n2) : b.toFloatArray(), n2);
                float[] got = Kronecker.apply(Var.of(x), left == null ? null : Var.of(left), right == null ? null : Var.of(right)).value().toFloatArray();
                float[] xv = x.toFloatArray();
                double[] row = new double[n];
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < n; i++) row[i] = xv[r * n + i];
                    Kronecker.apply(left == null ? null : a.contiguous().toDMatrix(), right == null ? null : b.contiguous().toDMatrix(), row, 0, n);
                    for (int j = 0; j < n; j++) {
                        double want = 0, scale = 0;
                        for (int i = 0; i < n; i++) { want += xv[r * n + i] * k[i][j]; scale += Math.abs(xv[r * n + i] * k[i][j]); }
                        assertThat(row[j]).as("f64 %dx%d mode %d", n1, n2, mode).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-12 * (1 + scale)));
                        assertThat((double) got[r * n + j]).as("f32 %dx%d mode %d", n1, n2, mode).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-5 * (1 + scale)));
                    }
                }
            }
        }
    }

    @Test void backwardMatchesFiniteDifferences() {
        Random rnd = new Random(3);
        Tensor x = Tensor.randn(rnd, 2, 3 * 5), a = Tensor.randn(rnd, 3, 3), b = Tensor.randn(rnd, 5, 5), w = Tensor.randn(rnd, 2, 15);
        GradCheck.Result r = GradCheck.check(v -> Kronecker.apply(v[0], v[1], v[2]).mul(Var.of(w)).sum(), x, a, b);
        assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s", r).isTrue();
        GradCheck.Result left = GradCheck.check(v -> Kronecker.apply(v[0], v[1], null).mul(Var.of(w)).sum(), x, a);
        assertThat(left.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s", left).isTrue();
    }

    /** A⁻¹ matches an f64 solve, and d(A⁻¹) = −A⁻¹·dA·A⁻¹ matches finite differences, on a well-conditioned odd size. */
    @Test void inverseAndItsGradient() {
        Random rnd = new Random(11);
        for (int n : new int[]{1, 7, 33}) {
            Tensor a = Tensor.randn(rnd, n, n).mul(0.3f / (float) Math.sqrt(n)).add(Tensor.of(DMatrix.identity(n)));
            DMatrix inv = MatrixInverse.inverse(a);
            DMatrix prod = a.contiguous().toDMatrix().multiply(inv);
            assertThat(prod.maxAbsDiff(DMatrix.identity(n))).isLessThan(1e-12);
            float[] f = MatrixInverse.of(Var.of(a)).value().toFloatArray();
            for (int i = 0; i < f.length; i++) assertThat((double) f[i]).isCloseTo(inv.data[i], org.assertj.core.data.Offset.offset(1e-6));
        }
        // in double against an independent inverse (Linalg's LU on the f64 input), finite differences of that reference
        Tensor a = Tensor.randn(rnd, 5, 5).mul(0.2f).add(Tensor.of(DMatrix.identity(5)));
        GradCheck.Result r = GradCheck.check(v -> MatrixInverse.of(v[0]), in -> Linalg.inverse(new DMatrix(5, 5, in[0].clone())).data, a);
        assertThat(r.passed(GradCheck.REFERENCE_TOLERANCE)).as("%s", r).isTrue();
    }

    /** The reference's factor sizes at LLaMA widths, its rule on small sizes, and the fallback for n ≡ 2 (mod 4). */
    @Test void factorSizesFollowTheReference() {
        assertThat(Kronecker.factorSizes(4096)).containsExactly(64, 64);
        assertThat(Kronecker.factorSizes(11008)).containsExactly(86, 128);
        assertThat(Kronecker.factorSizes(14336)).containsExactly(112, 128);
        assertThat(Kronecker.factorSizes(12)).containsExactly(2, 6);
        assertThat(Kronecker.factorSizes(13)).containsExactly(1, 13);
        assertThat(Kronecker.factorSizes(48)).containsExactly(6, 8);
        assertThat(Kronecker.factorSizes(30)).containsExactly(5, 6);
        assertThat(Kronecker.factorSizes(26)).containsExactly(2, 13);
        for (int n = 1; n < 400; n++) {
            int[] f = Kronecker.factorSizes(n);
            assertThat(f[0] * f[1]).isEqualTo(n);
            assertThat(f[0]).isLessThanOrEqualTo(f[1]);
        }
    }
}
