package dev.stiefel.opencl;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * sgemm with every tiling the H200 script times (and two more), on odd shapes with each operand row-major or transposed
 * (the loads follow whichever axis is contiguous), against an f64 reference.
 */
class SgemmTilingsOnOpenClTest {

    @Test void everyTilingMultipliesPlainAndTransposedOperands() {
        OpenCl.backend();
        Random rnd = new Random(77);
        for (int[] tiling : new int[][]{{64, 4}, {128, 8}, {32, 2}, {64, 8}}) {
            OpenClBackend cl = OpenClBackend.withTiling(tiling[0], tiling[1]).orElseThrow();
            for (int[] mnk : new int[][]{{7, 33, 1}, {130, 33, 7}, {7, 257, 257}, {130, 257, 33}, {257, 130, 129}}) {
                int m = mnk[0], n = mnk[1], k = mnk[2];
                Tensor a = Tensor.uniform(rnd, -1, 1, m, k), b = Tensor.uniform(rnd, -1, 1, k, n);
                double[] want = product(a.toFloatArray(), b.toFloatArray(), m, n, k);
                for (int form = 0; form < 4; form++) {
                    // a transposed operand is a stride view of the transposed data, as x·Wᵀ reads a weight
                    Tensor da = (form & 1) == 0 ? cl.resident(a) : cl.resident(a.t().contiguous()).t();
                    Tensor db = (form & 2) == 0 ? cl.resident(b) : cl.resident(b.t().contiguous()).t();
                    float[] got = cl.matmul(da, db, new int[]{m, n}).toFloatArray();
                    double worst = 0;
                    for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
                    assertThat(worst).as("tile %d/%d, %dx%dx%d, A %s, B %s", tiling[0], tiling[1], m, n, k,
                            (form & 1) == 0 ? "row-major" : "transposed", (form & 2) == 0 ? "row-major" : "transposed")
                            .isLessThan(1e-6 * Math.sqrt(k) + 1e-7 * k);
                }
            }
        }
        assertThatThrownBy(() -> OpenClBackend.withTiling(48, 5)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sgemm tile 48");
    }

    private static double[] product(float[] a, float[] b, int m, int n, int k) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double) a[i * k + p] * b[p * n + j];
                c[i * n + j] = s;
            }
        return c;
    }
}
