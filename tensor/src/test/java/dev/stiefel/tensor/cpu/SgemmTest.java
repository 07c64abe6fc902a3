package dev.stiefel.tensor.cpu;

import static dev.stiefel.tensor.cpu.SgemmFixtures.compare;
import static dev.stiefel.tensor.cpu.SgemmFixtures.random;
import static dev.stiefel.tensor.cpu.SgemmFixtures.store;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.stiefel.tensor.cpu.SgemmFixtures.Layout;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Sgemm against an f64 reference on seeded random inputs (see {@link SgemmFixtures#compare} for the
 * tolerance: 1e-5·sqrt(k) relative to Σ|a||b|).
 */
class SgemmTest {

    /** Runs one product with the given layouts and checks it; C sits in a padded block (cOff 2, ldc n+3). */
    private static void check(int m, int n, int k, Layout la, Layout lb, boolean accumulate, int threads, long seed) {
        Random r = new Random(seed);
        float[] a = random(r, m * k), b = random(r, k * n);
        int ldc = n + 3, cOff = 2;
        float[] c = new float[cOff + Math.max(0, m - 1) * ldc + n + 4];
        Arrays.fill(c, Float.NaN);
        float[] c0 = null;
        if (accumulate) {
            c0 = random(r, m * n);
            for (int i = 0; i < m; i++) System.arraycopy(c0, i * n, c, cOff + i * ldc, n);
        }
        float[] before = c.clone();
        // confined arenas (the kernels must then stay on the caller) alternate with shared ones (pool threads read)
        try (Arena arena = seed % 2 == 0 ? Arena.ofConfined() : Arena.ofShared()) {
            Sgemm.gemm(store(a, m, k, la, arena), store(b, k, n, lb, arena), c, cOff, ldc, accumulate, threads);
        }
        String what = m + "x" + k + " (" + la + ") · " + k + "x" + n + " (" + lb + "), accumulate " + accumulate + ", threads " + threads;
        assertThat(compare(a, b, c0, m, n, k, c, cOff, ldc)).as(what).isNull();
        // nothing outside the m×n block is written
        for (int i = 0; i < c.length; i++) {
            int rel = i - cOff;
            boolean inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
            if (!inside) assertThat(Float.floatToRawIntBits(c[i])).as(what + ": C[" + i + "] outside the block").isEqualTo(Float.floatToRawIntBits(before[i]));
        }
    }

    static Stream<Arguments> sizes() {
        int[] s = {1, 7, 33, 257};
        Stream.Builder<Arguments> out = Stream.builder();
        int i = 0;
        for (int m : s) for (int n : s) for (int k : s) {
            out.add(Arguments.of(m, n, k, i % 2 == 0, 1 + (i / 2) % 2));
            i++;
        }
        // larger, non-square shapes crossing the k-slice (KC), row-block (MC) and column-block (NC) boundaries
        out.add(Arguments.of(300, 517, 129, false, 2));
        out.add(Arguments.of(2 * Sgemm.MC + 5, 130, 2 * Sgemm.KC + 100, true, 2));
        out.add(Arguments.of(347, 290, Sgemm.KC + 1, false, 1));
        out.add(Arguments.of(30, Sgemm.NC + 104, 40, true, 2));
        out.add(Arguments.of(16, 1000, 300, false, 2));
        return out.build();
    }

    @ParameterizedTest(name = "{0}x{2} · {2}x{1}, accumulate {3}, threads {4}")
    @MethodSource("sizes")
    void matchesReferenceForRowMajorShapes(int m, int n, int k, boolean accumulate, int threads) {
        check(m, n, k, Layout.ROW_MAJOR, Layout.ROW_MAJOR, accumulate, threads, 31L * m + 7L * n + k);
    }

    static Stream<Arguments> layouts() {
        int[][] shapes = {{61, 75, 290}, {23, 45, 301}, {1, 300, 70}, {70, 1, 300}, {5, 6, 7}};
        Stream.Builder<Arguments> out = Stream.builder();
        int i = 0;
        for (Layout la : Layout.values())
            for (Layout lb : Layout.values())
                for (int[] s : shapes) {
                    out.add(Arguments.of(la, lb, s[0], s[1], s[2], i % 3 == 0, 1 + i % 2));
                    i++;
                }
        return out.build();
    }

    @ParameterizedTest(name = "A {0}, B {1}, {2}x{4} · {4}x{3}, accumulate {5}, threads {6}")
    @MethodSource("layouts")
    void matchesReferenceForEveryLayout(Layout la, Layout lb, int m, int n, int k, boolean accumulate, int threads) {
        check(m, n, k, la, lb, accumulate, threads, 1000L * la.ordinal() + 10L * lb.ordinal() + m);
    }

    /** Large enough for two threads (Sgemm uses one below 2^25 multiply-adds): column and row stripes. */
    @Test
    void twoThreadStripesMatchReference() {
        check(130, 700, Sgemm.KC + 50, Layout.ROW_MAJOR, Layout.TRANSPOSED, false, 2, 11);       // columns split
        check(2 * Sgemm.MC + 5, 130, 2 * Sgemm.KC + 100, Layout.STRIDED, Layout.ROW_MAJOR, true, 2, 12); // rows split
        check(20, 4 * Sgemm.NC + 108, 300, Layout.ROW_MAJOR, Layout.ROW_MAJOR, true, 2, 13);   // stripes cross NC
        check(1, 2100, 1100, Layout.ROW_MAJOR, Layout.ROW_MAJOR, false, 2, 14);                // m == 1, gemv over Bᵀ
        check(1, 2100, 1100, Layout.ROW_MAJOR, Layout.TRANSPOSED, true, 2, 15);
        check(2100, 1, 1100, Layout.TRANSPOSED, Layout.ROW_MAJOR, true, 2, 16);               // n == 1
        check(9, 2100, 1100, Layout.ROW_MAJOR, Layout.TRANSPOSED, false, 2, 17);              // few rows · Wᵀ
        check(Sgemm.FEW_ROWS, 2100, 1100, Layout.GAPPED, Layout.NATIVE_UNALIGNED_TRANSPOSED, true, 2, 19);
    }

    @Test
    void largerProductOfTransposedOperandsFromSegments() {
        check(130, 700, Sgemm.KC + 50, Layout.NATIVE_UNALIGNED, Layout.NATIVE_UNALIGNED_TRANSPOSED, true, 2, 5);
        check(130, 700, Sgemm.KC + 50, Layout.NATIVE_UNALIGNED_TRANSPOSED, Layout.NATIVE_UNALIGNED, false, 2, 8);
        check(400, 96, 300, Layout.TRANSPOSED, Layout.READ_ONLY_HEAP_SEGMENT, false, 2, 6);
    }

    /**
     * linearRows (Y = X·Wᵀ as W·Xᵀ, transposed) is the transpose of the blocked product W·Xᵀ bit for bit, and within
     * one k slice also of X·Wᵀ in the other orientation (past one slice, edge tiles add each slice's sum instead of
     * continuing the fma chain); W as a matrix or as rows on demand, on odd shapes, and on a reused scratch buffer
     * larger than the product (its stale values must not leak into Y). It refuses W given both ways.
     */
    @Test
    void linearRowsIsTheTransposedProductOfTheWeightAndTheRows() {
        Random r = new Random(21);
        int[][] shapes = {{211, 300, Sgemm.KC + 9}, {45, 97, 130}, {33, 1, 70}, {200, 35, Sgemm.KC}};   // m, n, k: the large one first, so the others reuse its buffer
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            float[] x = random(r, m * k), w = random(r, n * k);
            float[] wxt = new float[n * m], ref = new float[m * n];
            Sgemm.gemm(StridedMatrix.rowMajor(w, n, k), StridedMatrix.of(x, 0, k, m, 1, k), wxt, 0, m, false, 2);
            for (int t = 0; t < m; t++) for (int j = 0; j < n; j++) ref[t * n + j] = wxt[j * m + t];
            float[] viaMatrix = new float[m * n + 3], viaRows = new float[m * n + 3];
            Arrays.fill(viaMatrix, Float.NaN);
            Arrays.fill(viaRows, Float.NaN);
            Sgemm.linearRows(StridedMatrix.rowMajor(w, n, k), null, x, 0, m, viaMatrix, 3, 2);
            RowSource rows = new RowSource() {
                @Override public int rows() { return n; }
                @Override public int cols() { return k; }
                @Override public void row(int row, int col0, int len, float[] dst, int dstOff) { System.arraycopy(w, row * k + col0, dst, dstOff, len); }
            };
            Sgemm.linearRows(null, rows, x, 0, m, viaRows, 3, 2);
            // rows on demand always take the blocked product; a matrix of one row takes the gemv path
            float[] wxtRows = new float[n * m], refRows = new float[m * n];
            Sgemm.gemm(rows, StridedMatrix.of(x, 0, k, m, 1, k), wxtRows, 0, m, 2);
            for (int t = 0; t < m; t++) for (int j = 0; j < n; j++) refRows[t * n + j] = wxtRows[j * m + t];
            if (n > 1) assertThat(refRows).as("%dx%dx%d, both forms of W", m, n, k).isEqualTo(ref);
            assertThat(Arrays.copyOfRange(viaMatrix, 3, 3 + m * n)).as("%dx%dx%d, W as a matrix", m, n, k).isEqualTo(ref);
            assertThat(Arrays.copyOfRange(viaRows, 3, 3 + m * n)).as("%dx%dx%d, W as rows", m, n, k).isEqualTo(refRows);
            if (k <= Sgemm.KC) {
                float[] xwt = new float[m * n];
                Sgemm.gemm(StridedMatrix.rowMajor(x, m, k), StridedMatrix.of(w, 0, k, n, 1, k), xwt, 0, n, false, 2);
                assertThat(ref).as("%dx%dx%d, one k slice: X·Wᵀ's bits", m, n, k).isEqualTo(xwt);
            }
        }
        assertThatThrownBy(() -> Sgemm.linearRows(StridedMatrix.rowMajor(new float[4], 2, 2), null, new float[4], 0, 2, new float[3], 0, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Y");
        assertThatThrownBy(() -> Sgemm.linearRows(null, null, new float[4], 0, 2, new float[4], 0, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not both or neither");
    }

    @Test
    void zeroDepthClearsOrKeepsC() {
        float[] c = {5, 5, 5, 5};
        Sgemm.gemm(StridedMatrix.rowMajor(new float[0], 2, 0), StridedMatrix.rowMajor(new float[0], 0, 2), c, 0, 2, true, 1);
        assertThat(c).containsExactly(5, 5, 5, 5);
        Sgemm.gemm(StridedMatrix.rowMajor(new float[0], 2, 0), StridedMatrix.rowMajor(new float[0], 0, 2), c, 0, 2, false, 1);
        assertThat(c).containsExactly(0, 0, 0, 0);
    }

    @Test
    void rejectsMismatchedInnerDimensionNamingBothShapes() {
        var a = StridedMatrix.rowMajor(new float[15], 3, 5);
        var b = StridedMatrix.rowMajor(new float[28], 4, 7);
        assertThatThrownBy(() -> Sgemm.gemm(a, b, new float[21], 0, 7, false, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("3x5").hasMessageContaining("4x7");
    }

    @Test
    void rejectsTooSmallCNamingBothShapes() {
        var a = StridedMatrix.rowMajor(new float[15], 3, 5);
        var b = StridedMatrix.rowMajor(new float[35], 5, 7);
        for (int[] bad : new int[][]{{20, 0, 7}, {21, 1, 7}, {40, 0, 6}, {21, -1, 7}}) {
            assertThatThrownBy(() -> Sgemm.gemm(a, b, new float[bad[0]], bad[1], bad[2], false, 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("3x5").hasMessageContaining("5x7");
        }
    }

    @Test
    void rejectsOperandsReachingOutsideTheirStorage() {
        var b = StridedMatrix.rowMajor(new float[35], 5, 7);
        var shortA = StridedMatrix.of(new float[14], 0, 3, 5, 5, 1);
        assertThatThrownBy(() -> Sgemm.gemm(shortA, b, new float[21], 0, 7, false, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3x5");
        var offsetB = StridedMatrix.of(new float[35], 1, 5, 7, 7, 1);
        assertThatThrownBy(() -> Sgemm.gemm(StridedMatrix.rowMajor(new float[15], 3, 5), offsetB, new float[21], 0, 7, false, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("5x7");
        try (Arena arena = Arena.ofConfined()) {
            var seg = StridedMatrix.of(arena.allocate(4 * 34), 0, 5, 7, 7, 1);
            assertThatThrownBy(() -> Sgemm.gemm(StridedMatrix.rowMajor(new float[15], 3, 5), seg, new float[21], 0, 7, false, 1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("5x7");
        }
        var big = StridedMatrix.rowMajor(new float[300 * 300], 300, 300);
        var negative = StridedMatrix.of(new float[300 * 300], 0, 300, 300, 300, -1);
        assertThatThrownBy(() -> Sgemm.gemm(big, negative, new float[300 * 300], 0, 300, false, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("300x300");
    }

    @Test
    void rejectsNonPositiveThreads() {
        var a = StridedMatrix.rowMajor(new float[4], 2, 2);
        assertThatThrownBy(() -> Sgemm.gemm(a, a, new float[4], 0, 2, false, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("threads");
    }

    /** A as a {@link RowSource}: the blocked product's bits (it always takes the blocked path), C's padding untouched, bad C refused. */
    /**
     * x·Wᵀ with an f32 weight W (a linear layer's product) is computed as W·Xᵀ when both orientations are blocked
     * products (CpuBackend: W's rows are then packed by a copy instead of gathered). Within one k slice (k ≤ KC) that
     * is the bits of the product taken the usual way, X times the transposed view of W, heap and mapped: every element
     * is the same chain of fused multiply-adds. Past KC, an element of an edge tile (computed from zero in a scratch
     * tile, then added to C) rounds once more where a full tile keeps accumulating in registers, and which elements
     * sit in edge tiles depends on the orientation: there the two agree to f32 rounding (the f64 reference's bound).
     */
    @Test void f32WeightProductsGiveTheBitsOfTheUsualOrientation() throws Exception {
        Random r = new Random(43);
        for (int[] mnk : new int[][]{{33, 33, 33}, {128, 64, 64}, {40, 257, 70}, {129, 45, 768}, {129, 45, 769}, {200, 2049, 100}, {40, 70, 1600}, {33, 40, 1}})
            for (boolean mapped : new boolean[]{false, true}) {
                int m = mnk[0], n = mnk[1], k = mnk[2];
                float[] x = random(r, m * k), w = random(r, n * k);
                float[] want = new float[m * n];
                Sgemm.gemm(StridedMatrix.rowMajor(x, m, k), StridedMatrix.of(w, 0, k, n, 1, k), want, 0, n, false, 2);
                dev.stiefel.tensor.Tensor wt;
                java.nio.file.Path f = null;
                if (mapped) {
                    f = java.nio.file.Files.createTempFile("w", ".f32");
                    java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(4 * w.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    bb.asFloatBuffer().put(w);
                    java.nio.file.Files.write(f, bb.array());
                }
                try (dev.stiefel.tensor.MappedFile file = mapped ? dev.stiefel.tensor.MappedFile.open(f) : null) {
                    wt = mapped ? file.tensor(0, dev.stiefel.tensor.DType.F32, new int[]{n, k}) : dev.stiefel.tensor.Tensor.wrap(w, n, k);
                    float[] got = dev.stiefel.tensor.Tensor.wrap(x, m, k).matmul(wt.t()).toFloatArray();
                    if (k <= Sgemm.KC) {
                        for (int i = 0; i < got.length; i++)
                            assertThat(Float.floatToRawIntBits(got[i])).as("%s mapped %s element %d", Arrays.toString(mnk), mapped, i)
                                    .isEqualTo(Float.floatToRawIntBits(want[i]));
                    } else {
                        float[] b = new float[k * n]; // Wᵀ row-major, for the f64 reference
                        for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) b[p * n + j] = w[j * k + p];
                        assertThat(compare(x, b, null, m, n, k, got, 0, n)).as(Arrays.toString(mnk)).isNull();
                    }
                } finally {
                    if (f != null) java.nio.file.Files.deleteIfExists(f);
                }
            }
    }

    @Test void rowSourceAGivesTheBlockedProductsBits() {
        Random r = new Random(41);
        for (int[] mnk : new int[][]{{40, 45, 33}, {101, 70, 1000}, {1, 1, 1}, {15, 2, 769}}) {
            int m = mnk[0], n = mnk[1], k = mnk[2];
            float[] a = random(r, m * k), b = random(r, k * n);
            RowSource rows = new RowSource() {
                @Override public int rows() { return m; }
                @Override public int cols() { return k; }
                @Override public void row(int row, int col0, int len, float[] dst, int dstOff) { System.arraycopy(a, row * k + col0, dst, dstOff, len); }
            };
            int ldc = n + 3;
            float[] c = new float[1 + (m - 1) * ldc + n + 1];
            Arrays.fill(c, Float.NaN);
            Sgemm.gemm(rows, StridedMatrix.rowMajor(b, k, n), c, 1, ldc, 2);
            float[] want = new float[m * n];
            Sgemm.gemm(StridedMatrix.rowMajor(a, m, k), StridedMatrix.rowMajor(b, k, n), want, 0, n, false, 1);
            boolean blocked = m > 1 && n > 1 && (long) m * n * k > 32 * 32 * 32;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    float got = c[1 + i * ldc + j];
                    if (blocked) assertThat(Float.floatToRawIntBits(got)).as("%s (%d, %d)", Arrays.toString(mnk), i, j).isEqualTo(Float.floatToRawIntBits(want[i * n + j]));
                    else assertThat((double) got).isCloseTo(want[i * n + j], org.assertj.core.data.Offset.offset(1e-5 * Math.sqrt(k)));
                }
            assertThat(c[0]).isNaN();
            for (int i = 0; i + 1 < m; i++) assertThat(c[1 + i * ldc + n]).isNaN();
        }
        RowSource two = new RowSource() {
            @Override public int rows() { return 2; }
            @Override public int cols() { return 3; }
            @Override public void row(int row, int col0, int len, float[] dst, int dstOff) { }
        };
        assertThatThrownBy(() -> Sgemm.gemm(two, StridedMatrix.rowMajor(new float[12], 4, 3), new float[6], 0, 3, 1)).hasMessageContaining("B is 4x3");
        assertThatThrownBy(() -> Sgemm.gemm(two, StridedMatrix.rowMajor(new float[12], 3, 4), new float[7], 0, 4, 1)).hasMessageContaining("fewer than 8");
    }
}
