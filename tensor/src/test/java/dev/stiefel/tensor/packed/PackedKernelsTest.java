package dev.stiefel.tensor.packed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.stiefel.tensor.cpu.Sgemm;
import dev.stiefel.tensor.cpu.Sgemv;
import dev.stiefel.tensor.cpu.StridedMatrix;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The packed kernels against a naive f64 reference over the dequantized values, and against their fake-quantized
 * counterparts (the dequantized f32 matrix through the f32 kernels), on odd sizes, every bit width, per-channel and
 * grouped, symmetric and asymmetric; and the same bits on any number of threads.
 */
class PackedKernelsTest {
    private static final int[] BITS = {2, 3, 4, 8};
    private static final int[] SIZES = {1, 7, 33, 257};
    private static final int[] GROUPS = {0, 32, 64, 128};

    @Test void gemvMatchesTheReferenceAndTheFakeQuantizedGemv() {
        Random rnd = new Random(11);
        for (int bits : BITS)
            for (int rows : SIZES)
                for (int cols : SIZES)
                    for (int g : GROUPS)
                        for (boolean sym : new boolean[]{true, false}) {
                            String what = "gemv int" + bits + (sym ? " sym" : " asym") + " g" + g + " " + rows + "x" + cols;
                            PackedFixtures.Case c = PackedFixtures.random(rnd, rows, cols, bits, g, sym);
                            float[] x = PackedFixtures.gaussian(rnd, cols + 3);
                            float[] y = new float[rows + 2];
                            PackedGemv.gemv(c.packed(), x, 3, y, 1, 2);
                            float[] fake = c.fakeMatrix();
                            checkAgainstReference(what, y, 1, fake, rows, cols, x, 3);
                            float[] yf = new float[rows];
                            Sgemv.gemv(StridedMatrix.rowMajor(fake, rows, cols), Arrays.copyOfRange(x, 3, 3 + cols), 0, yf, 0, false, 1);
                            assertThat(relative(Arrays.copyOfRange(y, 1, 1 + rows), yf, fake, rows, cols, x, 3)).as(what + " against the fake-quantized gemv").isLessThan(1e-5);
                            assertThat(y[0]).isZero();
                            assertThat(y[rows + 1]).isZero();
                        }
    }

    /**
     * The chunked 4-bit and 8-bit gemv ({@link ChunkedGemv}: codes read L ints at a time, x permuted to their order) on
     * rows of whole chunks, chunks and a tail, and groups smaller than, equal to and larger than a chunk, 4-bit per
     * channel too (8-bit asymmetric zero points above 127 included: Gaussian weights put them near 128).
     */
    @Test void theChunkedGemvMatchesTheReferenceAndTheFakeQuantizedGemv() {
        Random rnd = new Random(13);
        for (int bits : new int[]{4, 8})
            for (int cols : new int[]{128, 257, 640, 1000})
                for (int g : new int[]{0, 32, 64, 128, 256})
                    for (boolean sym : new boolean[]{true, false}) {
                        if (bits == 8 && (g == 0 || g >= cols)) continue; // one group per row: 8 bits take the block loop
                        int rows = 9;
                        String what = "gemv int" + bits + (sym ? " sym" : " asym") + " g" + g + " " + rows + "x" + cols;
                        PackedFixtures.Case c = PackedFixtures.random(rnd, rows, cols, bits, g, sym);
                        assertThat(ChunkedGemv.fits(c.packed())).as(what).isTrue();
                        float[] x = PackedFixtures.gaussian(rnd, cols);
                        float[] y = new float[rows];
                        PackedGemv.gemv(c.packed(), x, 0, y, 0, 2);
                        float[] fake = c.fakeMatrix();
                        checkAgainstReference(what, y, 0, fake, rows, cols, x, 0);
                        float[] yf = new float[rows];
                        Sgemv.gemv(StridedMatrix.rowMajor(fake, rows, cols), x, 0, yf, 0, false, 1);
                        assertThat(relative(y, yf, fake, rows, cols, x, 0)).as(what + " against the fake-quantized gemv").isLessThan(1e-5);
                        float[] y1 = new float[rows];
                        PackedGemv.gemv(c.packed(), x, 0, y1, 0, 1);
                        assertThat(y1).as(what + ": one thread, the same bits").isEqualTo(y);
                    }
    }

    @Test void gemmMatchesTheReferenceAndTheFakeQuantizedGemm() {
        Random rnd = new Random(12);
        int[][] shapes = {{2, 7, 33}, {7, 257, 33}, {33, 33, 257}, {40, 70, 1000}, {3, 1, 7}, {5, 257, 1}};
        for (int bits : BITS)
            for (int[] mnk : shapes)
                for (int g : GROUPS)
                    for (boolean sym : new boolean[]{true, false}) {
                        int m = mnk[0], n = mnk[1], k = mnk[2];
                        String what = "gemm int" + bits + (sym ? " sym" : " asym") + " g" + g + " " + Arrays.toString(mnk);
                        PackedFixtures.Case c = PackedFixtures.random(rnd, n, k, bits, g, sym);
                        float[] x = PackedFixtures.gaussian(rnd, m * k);
                        float[] y = new float[m * n];
                        PackedGemv.gemm(x, 0, m, c.packed(), y, 0, 2);
                        float[] fake = c.fakeMatrix();
                        for (int t = 0; t < m; t++)
                            checkAgainstReference(what + " token " + t, Arrays.copyOfRange(y, t * n, (t + 1) * n), 0, fake, n, k, x, t * k);
                        // the fake-quantized linear layer X·Wᵀ through the f32 kernel
                        float[] yf = new float[m * n];
                        Sgemm.gemm(StridedMatrix.rowMajor(x, m, k), StridedMatrix.rowMajor(fake, n, k).transpose(), yf, 0, n, false, 1);
                        for (int t = 0; t < m; t++)
                            assertThat(relative(Arrays.copyOfRange(y, t * n, (t + 1) * n), Arrays.copyOfRange(yf, t * n, (t + 1) * n), fake, n, k, x, t * k))
                                    .as(what + " token " + t + " against X·W_fqᵀ").isLessThan(1e-5);
                        if (m > 1 && n > 32 && (long) m * n * k > 32 * 32 * 32) {
                            // W_fq·Xᵀ through the same blocked f32 product: the same bits
                            float[] ct = new float[n * m];
                            Sgemm.gemm(StridedMatrix.rowMajor(fake, n, k), StridedMatrix.of(x, 0, k, m, 1, k), ct, 0, m, false, 1);
                            for (int t = 0; t < m; t++)
                                for (int j = 0; j < n; j++)
                                    assertThat(Float.floatToRawIntBits(y[t * n + j])).as(what + " (%d, %d) against W_fq·Xᵀ", t, j)
                                            .isEqualTo(Float.floatToRawIntBits(ct[j * m + t]));
                        }
                    }
    }

    /** The per-token rule, written out here as quant.Quantizer computes it, and exactly representable centred levels. */
    @Test void int8ActivationsFollowThePerTokenRule() {
        Random rnd = new Random(13);
        for (boolean sym : new boolean[]{true, false})
            for (int cols : SIZES) {
                float[] x = PackedFixtures.gaussian(rnd, 3 * cols);
                for (int j = 0; j < cols; j++) x[j] = 0;              // an all-zero row
                for (int j = 0; j < cols; j++) x[2 * cols + j] = Math.abs(x[2 * cols + j]); // a row with no negative value
                Int8Rows q = Int8Rows.quantize(x, 0, 3, cols, sym);
                for (int t = 0; t < 3; t++) {
                    double lo = 0, hi = 0;
                    for (int j = 0; j < cols; j++) { lo = Math.min(lo, x[t * cols + j]); hi = Math.max(hi, x[t * cols + j]); }
                    float s, z;
                    int qmin = sym ? -128 : 0, qmax = sym ? 127 : 255;
                    if (sym) {
                        double m = Math.max(-lo, hi);
                        s = m == 0 ? 1f : (float) (m / 127);
                        z = 0;
                    } else {
                        if (lo == 0 && hi == 0) { lo = -1; hi = 1; }
                        s = Math.max((float) ((hi - lo) / 255), Float.MIN_NORMAL);
                        z = (float) Math.min(Math.max(Math.rint(-lo / s), 0), 255);
                    }
                    assertThat(q.scales()[t]).isEqualTo(s);
                    for (int j = 0; j < cols; j++) {
                        float level = Math.min(Math.max((float) Math.rint(x[t * cols + j] / s) + z, qmin), qmax);
                        assertThat(q.value(t, j)).as("sym %s row %d col %d", sym, t, j).isEqualTo((level - z) * s);
                        assertThat(Math.abs(q.value(t, j) - x[t * cols + j])).isLessThanOrEqualTo(s / 2 * 1.0001f);
                    }
                    for (int j = cols; j < q.stride(); j++) assertThat(q.q()[t * q.stride() + j]).isZero();
                }
            }
        assertThatThrownBy(() -> Int8Rows.quantize(new float[]{1, Float.NaN}, 0, 1, 2, true)).hasMessageContaining("NaN at row 0, column 1");
    }

    @Test void int8GemmMatchesTheReferenceAndTheFakeQuantizedProduct() {
        Random rnd = new Random(14);
        for (int bits : BITS)
            for (int n : new int[]{1, 7, 257})
                for (int k : SIZES)
                    for (int g : GROUPS)
                        for (boolean sym : new boolean[]{true, false}) {
                            int m = 3;
                            boolean symX = (n + k + g) % 2 == 0 ? sym : !sym;
                            String what = "int8 gemm int" + bits + (sym ? " sym" : " asym") + " g" + g + " " + n + "x" + k + (symX ? ", sym" : ", asym") + " activations";
                            PackedFixtures.Case c = PackedFixtures.random(rnd, n, k, bits, g, sym);
                            float[] x = PackedFixtures.gaussian(rnd, m * k);
                            for (int j = 0; j < k; j++) x[2 * k + j] += 1.5f;   // a token whose range is not centred on 0
                            Int8Rows q = Int8Rows.quantize(x, 0, m, k, symX);
                            float[] y = new float[m * n];
                            Int8Gemm.gemm(q, c.packed(), y, 0, 2);
                            float[] fake = c.fakeMatrix(), xf = new float[m * k];
                            for (int t = 0; t < m; t++) for (int j = 0; j < k; j++) xf[t * k + j] = q.value(t, j);
                            float[] yf = new float[n];
                            for (int t = 0; t < m; t++) {
                                float[] yt = Arrays.copyOfRange(y, t * n, (t + 1) * n);
                                checkAgainstReference(what + " token " + t, yt, 0, fake, n, k, xf, t * k);
                                Sgemv.gemv(StridedMatrix.rowMajor(fake, n, k), xf, t * k, yf, 0, false, 1);
                                assertThat(relative(yt, yf, fake, n, k, xf, t * k)).as(what + " token " + t + " against the fake-quantized gemv").isLessThan(1e-5);
                            }
                        }
    }

    /** A group whose integer sum passes 2^31 (40,000 columns of 255·255) is still summed exactly. */
    @Test void int8GemmSumsLongGroupsExactly() {
        int k = 40_000;
        int[] codes = new int[k];
        Arrays.fill(codes, 255);
        PackedMatrix w = PackedMatrix.ofCodes(codes, 1, k, 8, 0, false, new float[]{0.5f}, new float[]{0});
        float[] x = new float[k];
        Arrays.fill(x, 2f);
        Int8Rows q = Int8Rows.quantize(x, 0, 1, k, false);
        assertThat(q.centred(0, 7)).isEqualTo(255);
        float[] y = new float[1];
        Int8Gemm.gemm(q, w, y, 0, 1);
        assertThat((double) y[0]).isCloseTo((double) k * 255 * 0.5 * 255 * q.scales()[0], org.assertj.core.data.Offset.offset(1e-6 * k * 255 * 0.5 * 2));
    }

    /** Large enough to be split (rows over threads; the blocked product by row panels), every width once. */
    @Test void resultsDoNotDependOnTheThreadCount() {
        Random rnd = new Random(15);
        float[] x = PackedFixtures.gaussian(rnd, 16 * 2050);
        Int8Rows q = Int8Rows.quantize(x, 0, 2, 2050, false);
        Object[][] grids = {{2, false, 0}, {3, true, 128}, {4, false, 128}, {8, true, 0}};
        for (Object[] grid : grids) {
            int bits = (int) grid[0];
            PackedFixtures.Case c = PackedFixtures.random(rnd, 1030, 2050, bits, (int) grid[2], (boolean) grid[1]);
            same("gemv int" + bits, t -> {
                float[] y = new float[1030];
                PackedGemv.gemv(c.packed(), x, 0, y, 0, t);
                return y;
            });
            same("int8 gemm int" + bits, t -> {
                float[] y = new float[2 * 1030];
                Int8Gemm.gemm(q, c.packed(), y, 0, t);
                return y;
            });
            if (bits == 4)
                same("gemm int" + bits, t -> {
                    float[] y = new float[16 * 1030];
                    PackedGemv.gemm(x, 0, 16, c.packed(), y, 0, t);
                    return y;
                });
        }
    }

    /**
     * Codes in a native segment at an odd byte offset (as in a memory-mapped file), confined to this thread (the
     * kernels then stay on it) or shared: the same bits as on the heap.
     */
    @Test void codesInANativeSegmentGiveTheSameBits() {
        Random rnd = new Random(17);
        PackedFixtures.Case c = PackedFixtures.random(rnd, 1030, 2050, 3, 64, false);
        PackedMatrix heap = c.packed();
        float[] x = PackedFixtures.gaussian(rnd, 20 * 2050);
        float[] want = new float[1030], wantAll = new float[20 * 1030];
        PackedGemv.gemv(heap, x, 0, want, 0, 2);
        PackedGemv.gemm(x, 0, 20, heap, wantAll, 0, 2);
        for (java.lang.foreign.Arena arena : new java.lang.foreign.Arena[]{java.lang.foreign.Arena.ofConfined(), java.lang.foreign.Arena.ofShared()})
            try (arena) {
                java.lang.foreign.MemorySegment s = arena.allocate(heap.codes().byteSize() + 3).asSlice(3);
                s.copyFrom(heap.codes());
                PackedMatrix mapped = PackedMatrix.of(s, 1030, 2050, 3, 64, false, heap.scales(), heap.zeros());
                float[] y = new float[1030], all = new float[20 * 1030];
                PackedGemv.gemv(mapped, x, 0, y, 0, 2);
                PackedGemv.gemm(x, 0, 20, mapped, all, 0, 2);
                assertThat(y).isEqualTo(want);
                assertThat(all).isEqualTo(wantAll);
            }
    }

    @Test void badShapesAreRefused() {
        PackedFixtures.Case c = PackedFixtures.random(new Random(16), 7, 33, 4, 32, true);
        assertThatThrownBy(() -> PackedGemv.gemv(c.packed(), new float[32], 0, new float[7], 0, 1)).hasMessageContaining("x (length 32, offset 0) has fewer than 33");
        assertThatThrownBy(() -> PackedGemv.gemv(c.packed(), new float[33], 0, new float[6], 0, 1)).hasMessageContaining("y (length 6");
        assertThatThrownBy(() -> PackedGemv.gemm(new float[65], 0, 2, c.packed(), new float[14], 0, 1)).hasMessageContaining("X (length 65");
        assertThatThrownBy(() -> Int8Gemm.gemm(Int8Rows.quantize(new float[32], 0, 1, 32, true), c.packed(), new float[7], 0, 1))
                .hasMessageContaining("32 columns");
    }

    // ------------------------------------------------------------ helpers

    private interface Run { float[] apply(int threads); }

    private static void same(String what, Run run) {
        float[] one = run.apply(1);
        for (int t = 2; t <= 4; t++) assertThat(Arrays.equals(run.apply(t), one)).as("%s on %d threads gives the bits of one thread", what, t).isTrue();
    }

    /**
     * y[yOff + r] against Σ_j w[r, j]·x[xOff + j] in f64: within 1e-5 of Σ_j |w[r, j]·x[xOff + j]| plus the f32
     * rounding of a group's Σ c·x − z·Σ x (bounded by the same sum with the codes and zero points in place of the
     * centred levels, which the reference bounds by 2^bits·max|s|·Σ|x|; taken here as 1e-5 of Σ|w·x| + 1e-6·Σ|x|·max|w|).
     */
    private static void checkAgainstReference(String what, float[] y, int yOff, float[] w, int rows, int cols, float[] x, int xOff) {
        for (int r = 0; r < rows; r++) {
            double ref = 0, mag = 0, xAbs = 0, wMax = 0;
            for (int j = 0; j < cols; j++) {
                double p = (double) w[r * cols + j] * x[xOff + j];
                ref += p;
                mag += Math.abs(p);
                xAbs += Math.abs(x[xOff + j]);
                wMax = Math.max(wMax, Math.abs(w[r * cols + j]));
            }
            assertThat((double) y[yOff + r]).as("%s row %d", what, r).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * mag + 1e-5 * xAbs * wMax + 1e-30));
        }
    }

    /**
     * max |a − b| over the scale of the products, max_r Σ_j |w[r, j]·x[xOff + j]|: the f32 error of a dot product is
     * proportional to that sum, not to its (possibly cancelling) value.
     */
    private static double relative(float[] a, float[] b, float[] w, int rows, int cols, float[] x, int xOff) {
        double d = 0, m = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        for (int r = 0; r < rows; r++) {
            double mag = 0;
            for (int j = 0; j < cols; j++) mag += Math.abs((double) w[r * cols + j] * x[xOff + j]);
            m = Math.max(m, mag);
        }
        return m == 0 ? d : d / m;
    }
}
