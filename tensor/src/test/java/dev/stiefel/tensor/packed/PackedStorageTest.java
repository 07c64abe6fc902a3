package dev.stiefel.tensor.packed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A packed weight as a tensor: the model's x·Wᵀ reaches the packed kernels through {@code Tensor.matmul} and equals
 * the f64 product with the dequantized W; every other read of the tensor gives the fake-quantized values bit for bit.
 */
class PackedStorageTest {

    @Test void matmulWithTheTransposedWeightIsTheProductWithTheFakeQuantizedMatrix() {
        Random rnd = new Random(5);
        for (int bits : new int[]{2, 3, 4, 8})
            for (int[] mnk : new int[][]{{1, 7, 33}, {1, 257, 70}, {3, 33, 257}, {17, 40, 172}, {2, 1, 1}})
                for (int g : new int[]{0, 32, 128})
                    for (boolean sym : new boolean[]{true, false}) {
                        int m = mnk[0], n = mnk[1], k = mnk[2];
                        String what = "int" + bits + (sym ? " sym" : " asym") + " g" + g + " m" + m + " " + n + "x" + k;
                        PackedFixtures.Case c = PackedFixtures.random(rnd, n, k, bits, g, sym);
                        Tensor w = PackedStorage.tensor(c.packed());
                        float[] x = PackedFixtures.gaussian(rnd, m * k);
                        float[] y = Tensor.wrap(x, m, k).matmul(w.t()).toFloatArray();
                        float[] fake = c.fakeMatrix();
                        for (int t = 0; t < m; t++)
                            for (int r = 0; r < n; r++) {
                                double ref = 0, mag = 0, xAbs = 0, wMax = 0;
                                for (int j = 0; j < k; j++) {
                                    double p = (double) fake[r * k + j] * x[t * k + j];
                                    ref += p;
                                    mag += Math.abs(p);
                                    xAbs += Math.abs(x[t * k + j]);
                                    wMax = Math.max(wMax, Math.abs(fake[r * k + j]));
                                }
                                // the kernels' bound (PackedKernelsTest): f32 rounding of Σ c·x − z_c·Σ x per group
                                assertThat((double) y[t * n + r]).as("%s token %d row %d", what, t, r)
                                        .isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * mag + 1e-5 * xAbs * wMax + 1e-30));
                            }
                    }
    }

    @Test void readingThePackedTensorGivesTheFakeQuantizedValuesExactly() {
        Random rnd = new Random(6);
        PackedFixtures.Case c = PackedFixtures.random(rnd, 9, 70, 3, 32, false);
        Tensor w = PackedStorage.tensor(c.packed());
        assertThat(w.toFloatArray()).containsExactly(c.fakeMatrix());
        float[] col = w.t().contiguous().toFloatArray(); // a strided read goes element by element
        float[] fake = c.fakeMatrix();
        for (int j = 0; j < 70; j++) for (int r = 0; r < 9; r++) assertThat(col[j * 9 + r]).isEqualTo(fake[r * 70 + j]);
        assertThat(w.narrow(0, 2, 3).toFloatArray()).containsExactly(java.util.Arrays.copyOfRange(fake, 2 * 70, 5 * 70));
        assertThatThrownBy(() -> w.copyFrom(Tensor.zeros(9, 70))).hasMessageContaining("read-only");
    }
}
