package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

class MatmulTest {

    /** C = A·B per batch in f64 with broadcast batch dims. */
    static double[] reference(Tensor a, Tensor b, int[] outShape) {
        int nd = outShape.length, m = outShape[nd - 2], n = outShape[nd - 1], k = a.size(-1);
        double[] c = new double[(int) Shape.numel(outShape)];
        Ref.forEachIndex(outShape, idx -> {
            int[] ai = ElementwiseTest.project(idx, a.shape()), bi = ElementwiseTest.project(idx, b.shape());
            double s = 0;
            for (int p = 0; p < k; p++) {
                ai[ai.length - 2] = idx[nd - 2]; ai[ai.length - 1] = p;
                bi[bi.length - 2] = p; bi[bi.length - 1] = idx[nd - 1];
                s += (double) a.get(ai) * b.get(bi);
            }
            c[Ref.flat(outShape, idx)] = s;
        });
        return c;
    }

    /** Relative to Σ|a||b| per element: the scale rounding errors of a k-term dot product grow with. */
    static void assertMatmul(Tensor a, Tensor b) {
        Tensor c = a.matmul(b);
        int[] outShape = c.shape();
        double[] e = reference(a, b, outShape);
        double[] scale = reference(a.abs(), b.abs(), outShape);
        double[] got = Ref.values(c);
        int k = a.size(-1);
        double tol = 2e-6 * Math.sqrt(k);
        for (int i = 0; i < e.length; i++)
            if (Math.abs(got[i] - e[i]) > tol * scale[i] + 1e-30)
                fail("matmul " + Shape.str(a.shape()) + " x " + Shape.str(b.shape()) + " element " + i + ": " + got[i] + " vs " + e[i]);
    }

    @Test
    void everyCombinationOfOddSizes() {
        Random rnd = new Random(31);
        for (int m : Ref.SIZES)
            for (int k : Ref.SIZES)
                for (int n : Ref.SIZES) {
                    if ((long) m * k * n > 257L * 257 * 33) continue; // keep the f64 reference quick
                    assertMatmul(Tensor.randn(rnd, m, k), Tensor.randn(rnd, k, n));
                }
        assertMatmul(Tensor.randn(rnd, 257, 129), Tensor.randn(rnd, 129, 300));
    }

    @Test
    void transposedAndStridedOperandsAreViewsNotCopies() {
        Random rnd = new Random(32);
        Tensor at = Tensor.randn(rnd, 33, 7).t();          // 7 x 33, column-major
        Tensor bt = Tensor.randn(rnd, 65, 33).t();         // 33 x 65, column-major (x · Wᵀ)
        assertMatmul(at, bt);
        assertMatmul(Tensor.randn(rnd, 7, 33), bt);
        Tensor sliced = Tensor.randn(rnd, 7, 100).slice(1, 3, 36); // rows with a gap
        assertMatmul(sliced, Tensor.randn(rnd, 33, 9));
        assertMatmul(Tensor.randn(rnd, 9, 66).slice(1, 0, 66, 2).t().t(), Tensor.randn(rnd, 33, 5));
    }

    @Test
    void batchDimsBroadcast() {
        Random rnd = new Random(33);
        assertMatmul(Tensor.randn(rnd, 3, 1, 7, 33), Tensor.randn(rnd, 4, 33, 5));
        assertMatmul(Tensor.randn(rnd, 2, 7, 33), Tensor.randn(rnd, 33, 257));
        assertMatmul(Tensor.randn(rnd, 5, 1, 33), Tensor.randn(rnd, 5, 33, 1));
        // attention-shaped: [heads, T, hd] · [heads, hd, T] with the second a transposed view
        Tensor q = Tensor.randn(rnd, 4, 7, 8), kk = Tensor.randn(rnd, 4, 7, 8);
        assertMatmul(q, kk.transpose(1, 2));
        assertThat(q.matmul(kk.transpose(1, 2)).shape()).containsExactly(4, 7, 7);
    }

    @Test
    void halfPrecisionAndMappedOperands(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Random rnd = new Random(34);
        Tensor a = Tensor.randn(rnd, 7, 33);
        Tensor w = Tensor.randn(rnd, 65, 33);
        assertMatmul(a, w.to(DType.BF16).t());
        assertMatmul(a.to(DType.F16), w.t());
        // memory-mapped f32 weights at an unaligned offset, used without a copy
        Path file = dir.resolve("w.bin");
        ByteBuffer buf = ByteBuffer.allocate(3 + 65 * 33 * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(new byte[3]);
        for (float v : w.toFloatArray()) buf.putFloat(v);
        Files.write(file, buf.array());
        try (MappedFile mf = MappedFile.open(file)) {
            Tensor mapped = mf.tensor(3, DType.F32, 65, 33);
            assertThat(mapped.storage()).isInstanceOf(MappedStorage.class);
            assertMatmul(a, mapped.t());
            assertMatmul(mapped, Tensor.randn(rnd, 33, 4));
            assertThat(a.matmul(mapped.t()).maxAbsDiff(a.matmul(w.t()))).isZero();
        }
    }

    @Test
    void emptyInnerDimensionGivesZeros() {
        Tensor c = Tensor.zeros(3, 0).matmul(Tensor.zeros(0, 4));
        assertThat(c.shape()).containsExactly(3, 4);
        assertThat(c.toFloatArray()).containsOnly(0f);
    }
}
