package dev.stiefel.riemann.hadamard;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HadamardTransformTest {
    /**
     * x·H (or x·Hᵀ) for each row in f64 from the matrix's entries ({@link HadamardMatrix#get}, not the transform's
     * code path), times {@code scale}.
     */
    static double[] reference(HadamardMatrix h, float[] x, int rows, boolean transposed, double scale) {
        int n = h.order();
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++) {
                double xi = x[r * n + i];
                if (xi == 0) continue;
                for (int j = 0; j < n; j++) y[r * n + j] += xi * (transposed ? h.get(j, i) : h.get(i, j));
            }
        for (int i = 0; i < y.length; i++) y[i] *= scale;
        return y;
    }

    /** max |got − want| relative to max |want|. */
    static double relativeError(float[] got, double[] want) {
        double err = 0, size = 0;
        for (int i = 0; i < want.length; i++) {
            err = Math.max(err, Math.abs(got[i] - want[i]));
            size = Math.max(size, Math.abs(want[i]));
        }
        return err / size;
    }

    @Test
    void fwhtEqualsSylvesterTimesTheVector() {
        Random rnd = new Random(41);
        for (int n = 1; n <= 8192; n *= 2) {
            float[] x = new float[n + 3];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] y = x.clone();
            float scale = n == 256 ? 1f / 16 : 1f;
            Fwht.transform(y, 3, n, scale);
            double[] want = new double[n];
            if (n <= 1024) {
                byte[] h = Hadamard.sylvester(n);
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) want[i] += h[i * n + j] * (double) x[3 + j] * scale;
            } else {
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) want[i] += ((Integer.bitCount(i & j) & 1) == 0 ? 1 : -1) * (double) x[3 + j];
            }
            assertThat(relativeError(java.util.Arrays.copyOfRange(y, 3, n + 3), want)).as("n=%d", n).isLessThan(1e-6 * Math.max(1, Math.log(n)));
            for (int i = 0; i < 3; i++) assertThat(y[i]).isEqualTo(x[i]); // outside the range untouched
        }
        assertThatThrownBy(() -> Fwht.transform(new float[12], 0, 12, 1f)).hasMessageContaining("power of two");
        assertThatThrownBy(() -> Fwht.transform(new float[16], 4, 16, 1f)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    /** The fast transform equals the dense product in f64 on odd row counts, both orientations, for every kind of block. */
    @Test
    void fastTransformEqualsTheDenseProduct() {
        Random rnd = new Random(42);
        int[] sizes = {1, 2, 4, 12, 20, 28, 40, 44, 52, 60, 92, 108, 116, 140, 156, 172, 256, 344, 1376, 4096, 5632, 11008};
        for (int n : sizes) {
            HadamardMatrix h = Hadamard.matrix(n);
            HadamardTransform plain = HadamardTransform.of(h), unit = plain.normalized();
            for (int rows : n >= 4096 ? new int[]{1} : new int[]{1, 7, 33}) {
                Tensor x = Tensor.randn(rnd, rows, n);
                float[] xs = x.toFloatArray();
                for (boolean transposed : new boolean[]{false, true}) {
                    for (HadamardTransform t : new HadamardTransform[]{plain, unit}) {
                        Tensor y = transposed ? t.multiplyTransposed(x) : t.multiply(x);
                        assertThat(y.shape()).containsExactly(rows, n);
                        double scale = t == unit ? 1 / Math.sqrt(n) : 1;
                        assertThat(relativeError(y.toFloatArray(), reference(h, xs, rows, transposed, scale)))
                                .as("n=%d rows=%d transposed=%s scale=%s", n, rows, transposed, scale).isLessThan(2e-6 * Math.log(2 + n));
                    }
                }
            }
        }
    }

    @Test
    void normalizedTransformIsOrthogonalAndAcceptsViews() {
        Random rnd = new Random(43);
        for (int n : new int[]{12, 64, 172, 11008}) {
            HadamardTransform t = HadamardTransform.of(n).normalized();
            Tensor x = Tensor.randn(rnd, 3, 5, n);
            Tensor kept = x.copy();
            Tensor y = t.multiply(x);
            assertThat(x.maxAbsDiff(kept)).as("input untouched").isZero();
            // f16 input (converted once) and a contiguous narrow view with an offset
            assertThat(t.multiply(x.to(dev.stiefel.tensor.DType.F16)).maxAbsDiff(t.multiply(x.to(dev.stiefel.tensor.DType.F16).to(dev.stiefel.tensor.DType.F32)))).isZero();
            assertThat(t.multiply(x.narrow(1, 2, 2)).maxAbsDiff(t.multiply(x.narrow(1, 2, 2).copy()))).isZero();
            assertThat(y.shape()).containsExactly(3, 5, n);
            assertThat(t.multiplyTransposed(y).maxAbsDiff(x)).as("n=%d", n).isLessThan(1e-5);
            assertThat(y.square().sum().item()).isCloseTo(x.square().sum().item(), org.assertj.core.data.Percentage.withPercentage(1e-3));
            // a transposed view gives the same rows as its contiguous copy
            Tensor v = Tensor.randn(rnd, n, 7).t();
            assertThat(t.multiply(v).maxAbsDiff(t.multiply(v.contiguous()))).isZero();
        }
        assertThatThrownBy(() -> HadamardTransform.of(12).multiply(Tensor.zeros(3, 13)))
                .hasMessageContaining("[3, 13]").hasMessageContaining("12");
    }

    @Test
    void matrixMatchesTheTransform() {
        Random rnd = new Random(44);
        for (int n : new int[]{20, 40, 172}) {
            HadamardTransform t = HadamardTransform.of(n);
            Tensor x = Tensor.randn(rnd, 5, n);
            assertThat(t.multiply(x).maxAbsDiff(x.matmul(t.matrix()))).isLessThan(1e-4);
            DMatrix m = t.toDMatrix();
            assertThat(m.multiply(m.transpose()).maxAbsDiff(DMatrix.identity(n).scale(n))).isZero();
        }
    }

    /**
     * Sizes without a Hadamard matrix get Q = (H_h ⊗ R)/√h, R Haar-random of order n/h: orthogonal, deterministic in
     * the seed, and the fast path equals its dense matrix.
     */
    @Test
    void fallbackIsOrthogonalAndSeeded() {
        Random rnd = new Random(45);
        int[][] cases = {{7, 1}, {50, 2}, {94, 2}, {188, 4}, {752, 16}, {1, 1}, {172, 172}};
        for (int[] c : cases) {
            int n = c[0];
            HadamardTransform t = HadamardTransform.orthogonal(n, 9);
            assertThat(t.isHadamard()).as("%d", n).isEqualTo(Hadamard.isKnown(n));
            if (!t.isHadamard()) assertThat(t.description()).contains("RandomOrthogonal(" + n / c[1]);
            DMatrix q = t.toDMatrix();
            assertThat(Linalg.orthogonalityError(q)).as("%d", n).isLessThan(1e-6);
            Tensor x = Tensor.randn(rnd, 7, n);
            double[] want = new double[7 * n];
            DMatrix ref = x.toDMatrix().multiply(q);
            System.arraycopy(ref.data, 0, want, 0, want.length);
            assertThat(relativeError(t.multiply(x).toFloatArray(), want)).as("%d", n).isLessThan(1e-5);
            assertThat(t.multiplyTransposed(t.multiply(x)).maxAbsDiff(x)).isLessThan(1e-5);
            assertThat(HadamardTransform.orthogonal(n, 9).multiply(x).maxAbsDiff(t.multiply(x))).isZero();
        }
        assertThat(HadamardTransform.orthogonal(188, 1).toDMatrix().maxAbsDiff(HadamardTransform.orthogonal(188, 2).toDMatrix())).isGreaterThan(0.01);
    }

    @Test
    void randomizedHadamardIsAnIncoherentRotation() {
        Random rnd = new Random(46);
        for (int n : new int[]{28, 64, 1376}) {
            RandomizedHadamard r = RandomizedHadamard.of(n, 17);
            DMatrix q = r.toDMatrix();
            assertThat(Linalg.orthogonalityError(q)).isLessThan(1e-6);
            for (double v : q.data) assertThat(Math.abs(Math.abs(v) - 1 / Math.sqrt(n))).isLessThan(1e-7);
            float[] s = r.signs();
            int negative = 0;
            for (float v : s) if (v < 0) negative++;
            assertThat(negative).isBetween(n / 4, 3 * n / 4);
            Tensor x = Tensor.randn(rnd, 3, n);
            assertThat(r.multiply(x).maxAbsDiff(x.matmul(r.matrix()))).isLessThan(1e-4);
            assertThat(r.multiplyTransposed(r.multiply(x)).maxAbsDiff(x)).isLessThan(1e-5);
            assertThat(RandomizedHadamard.of(n, 17).signs()).containsExactly(s);
            assertThat(RandomizedHadamard.of(n, 18).signs()).isNotEqualTo(s);
        }
        // an outlier channel is spread evenly over all coordinates
        Tensor spike = Tensor.zeros(1, 4096);
        spike.set(100f, 0, 123);
        float[] y = RandomizedHadamard.of(4096, 3).multiply(spike).toFloatArray();
        for (float v : y) assertThat(Math.abs(v)).isCloseTo(100f / 64, org.assertj.core.data.Offset.offset(1e-4f));
    }
}
