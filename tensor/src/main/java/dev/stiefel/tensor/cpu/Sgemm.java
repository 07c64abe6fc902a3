package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * f32 general matrix product {@code C = A·B} (or {@code C += A·B}) in the GotoBLAS/BLIS structure.
 *
 * <pre>
 * for jc over n in NC-wide column blocks                  (each thread runs this on its own stripe of C)
 *   for pc over k in slices of at most KC
 *     pack B[pc.., jc..] into NR-wide panels, k-major      B block (KC×NC floats, 6 MiB) in L3
 *     for ic over m in MC-row blocks
 *       pack A[ic.., pc..] into MR-row panels              A block (MC×KC, 336 KiB) in L2
 *       for jr over the NR-wide panels of the B block      B micro-panel (KC×NR, 96 KiB) in L2
 *         for ir over the MR-row panels of the A block     A micro-panel (MR×KC, 42 KiB) in L1/L2
 *           micro-kernel: C[MR×NR tile] (+)= A micro-panel · B micro-panel
 * </pre>
 *
 * <p>The micro-kernel keeps an MR×NR tile of C in vector registers: MR = 14 rows by NR = 2 vectors (32
 * columns with 16-lane AVX-512 vectors), i.e. 28 accumulators plus two B vectors and one broadcast A value,
 * 31 of the 32 zmm registers. Each k step loads two B vectors and broadcasts 14 A values for 28 FMAs, so the
 * two FMA pipes, not the load ports, set the pace (on hot packed data the kernel runs at about 250 GFLOP/s on
 * one Zen 5 core). NR follows the vector species: on 8- or 4-lane machines the same code runs correctly, with
 * register spills.
 *
 * <p>Blocking, measured on Zen 5 (48 KiB L1d, 1 MiB L2 per core, 32 MiB L3): a deep k slice matters most,
 * because the C tile is loaded and stored once per slice; KC = 768 beat 256 by about 10% even though the
 * B micro-panel then streams from L2 rather than L1 (it needs only ~9 bytes a cycle). MC = 112 keeps the A
 * block at a third of L2. NC = 2048 keeps the B blocks of two threads (6 MiB each) well inside L3 beside the
 * C traffic: on the 512×4096×11008 FFN product NC = 4096 was 5-10% slower, NC = 1024 the same as 2048.
 * k is cut into equal slices (4096 = 6 × 683) so no thin last slice is left.
 *
 * <p>Packing copies the operands into the layouts the micro-kernel streams: B panels k-major (NR consecutive
 * floats per k step: the two vectors of one step), A panels as MR rows of KC floats (for a row-major A, the
 * usual activation layout, packing is a plain row copy). Any strides work; row-major and transposed operands
 * (the {@code X·Wᵀ} of a linear layer) have direct copy loops, from a float[] or a little-endian
 * MemorySegment. Edge tiles (m, n not multiples of MR, NR) are computed from zero-padded panels into a
 * scratch tile whose valid part is merged into C.
 *
 * <p>Shapes that would not repay the packing take other paths: m == 1 or n == 1 is a matrix-vector product
 * ({@link Sgemv}); at most 32³ multiply-adds, a plain loop; up to {@link #FEW_ROWS} rows times a transposed B
 * ({@code X·Wᵀ} in batched decode), dot products that stream W once.
 */
public final class Sgemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Rows of the register tile (the micro-kernel below is written for exactly 14). */
    static final int MR = 14;
    /** Columns of the register tile: two vectors. */
    static final int NR = 2 * L;
    /** Deepest k slice; also the row stride of a packed A panel. */
    static final int KC = 768;
    /** Rows of one packed A block: 8 panels. */
    static final int MC = 8 * MR;
    /** Columns of one packed B block. */
    static final int NC = 2048;
    /**
     * Up to this many rows, a product with a transposed B (X·Wᵀ, W rows contiguous: batched decode) skips
     * packing, since transposing W into panels costs more than the product itself. 1..64 × 4096 · 4096×4096ᵀ
     * on two threads took 4.7 ms for any m in 2..8 when packed, 1.3-2.0 ms as dot products; the two met near
     * m = 48.
     */
    static final int FEW_ROWS = 32;
    /** At or below this many multiply-adds the unpacked loop is faster than packing. */
    static final long SMALL = 32L * 32 * 32;
    /**
     * Below this many multiply-adds one thread is used: waking a pool worker costs some 20-80 µs here, and
     * two threads only broke even at about 256³ (140 µs on one core).
     */
    static final long PARALLEL_MIN = 1L << 25;

    /**
     * Per-thread packing buffers, reused across calls: a packed B block (up to KC×NC floats, 6 MiB), and a
     * packed A block plus an MR×NR scratch tile. A call takes them out while it runs, so a re-entrant call on
     * the same thread (a pool worker joining other work) allocates its own.
     */
    private static final ThreadLocal<float[]> B_BUF = new ThreadLocal<>();
    private static final ThreadLocal<float[]> A_BUF = new ThreadLocal<>();

    private Sgemm() {}

    /**
     * C = A·B, or C += A·B when {@code accumulate}. A is m×k, B is k×n, both {@link StridedMatrix} views with
     * any strides (a transposed operand is a stride swap), over a heap float[] or a little-endian
     * MemorySegment of f32 at any byte offset. C is a heap row-major block: C(i, j) is
     * {@code c[cOff + i*ldc + j]}; it must not overlap A or B. Uses up to {@code threads} threads of
     * {@link Parallel#pool()} (one thread runs on the caller alone; so does an operand in a segment confined
     * to the calling thread).
     *
     * @throws IllegalArgumentException when A.cols != B.rows, C is too small for m×n with {@code ldc}, an
     *                                  operand reaches outside its storage, or {@code threads < 1}
     */
    public static void gemm(StridedMatrix a, StridedMatrix b, float[] c, int cOff, int ldc, boolean accumulate, int threads) {
        if (a == null || b == null) throw new IllegalArgumentException("gemm: A and B must not be null");
        String ctx = "gemm: A is " + Operands.shape(a) + " but B is " + Operands.shape(b);
        if (a.cols() != b.rows()) throw new IllegalArgumentException(ctx);
        int m = a.rows(), k = a.cols(), n = b.cols();
        if (c == null) throw new IllegalArgumentException("gemm: C is null for A " + Operands.shape(a) + " times B " + Operands.shape(b));
        if (m > 0 && n > 0) {
            long last = cOff + (long) (m - 1) * ldc + n;
            if (cOff < 0 || (m > 1 && ldc < n) || last > c.length)
                throw new IllegalArgumentException("gemm: C (length " + c.length + ", offset " + cOff + ", ldc " + ldc
                        + ") cannot hold the " + m + "x" + n + " product of A " + Operands.shape(a) + " and B " + Operands.shape(b));
        }
        Operands.checkBounds("gemm: A", a);
        Operands.checkBounds("gemm: B", b);
        Operands.checkThreads("gemm", threads);
        if (m == 0 || n == 0) return;
        if (k == 0) {
            if (!accumulate) for (int i = 0; i < m; i++) Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
            return;
        }
        threads = Operands.usableThreads(threads, a, b);
        a = Operands.heapView(a);
        b = Operands.heapView(b);
        if (m == 1) rowTimesMatrix(a, b, c, cOff, accumulate, threads);
        else if (n == 1) matrixTimesColumn(a, b, c, cOff, ldc, accumulate, threads);
        else if ((long) m * n * k <= SMALL) small(a, b, c, cOff, ldc, accumulate);
        else if (m <= FEW_ROWS && b.rowStride() == 1) fewRows(a, b, c, cOff, ldc, accumulate, threads);
        else blocked(a, null, b, c, cOff, ldc, accumulate, (long) m * n * k < PARALLEL_MIN ? 1 : threads);
    }

    /**
     * C = A·B with A given as rows produced on demand ({@link RowSource}: packed or 16-bit weights): always the
     * blocked product, A's rows turned into f32 straight into the packed A panels (k slice by k slice, MR rows at
     * a time), so no f32 copy of A is ever made. With A = W [n, k] and B = Xᵀ (X [m, k] row-major, a transposed
     * view), C = W·Xᵀ is the transpose of a linear layer's X·Wᵀ; each element is the same sum of the same fused
     * multiply-adds, over the same k slices, as the f32 product with the operands in either order (only tiles at
     * the edges of C, which add a slice's sum to C instead of continuing the fma chain, round differently).
     *
     * @throws IllegalArgumentException as {@link #gemm(StridedMatrix, StridedMatrix, float[], int, int, boolean, int)}
     */
    public static void gemm(RowSource a, StridedMatrix b, float[] c, int cOff, int ldc, int threads) {
        if (a == null || b == null) throw new IllegalArgumentException("gemm: A and B must not be null");
        int m = a.rows(), k = a.cols(), n = b.cols();
        if (k != b.rows()) throw new IllegalArgumentException("gemm: A is " + m + "x" + k + " but B is " + Operands.shape(b));
        Operands.checkVector("C", c, cOff, m == 0 || n == 0 ? 0 : (long) (m - 1) * ldc + n, "gemm: C = A (" + m + "x" + k + ") times B (" + Operands.shape(b) + ")");
        if (m > 1 && n > 0 && ldc < n) throw new IllegalArgumentException("gemm: ldc " + ldc + " < n " + n);
        Operands.checkBounds("gemm: B", b);
        Operands.checkThreads("gemm", threads);
        if (m == 0 || n == 0) return;
        if (k == 0) {
            for (int i = 0; i < m; i++) Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, 0f);
            return;
        }
        threads = Operands.usableThreads(threads, b);
        blocked(null, a, Operands.heapView(b), c, cOff, ldc, false, (long) m * n * k < PARALLEL_MIN ? 1 : threads);
    }

    /**
     * A linear layer's Y = X·Wᵀ for several rows of X, computed as C' = W·Xᵀ with W as the A operand (its rows packed
     * by a copy, or produced on demand by a {@link RowSource}: packed codes, 16-bit weights) and then transposed into Y,
     * in 32 × 32 tiles (rows of tiles in parallel). W's rows are never gathered element by element, which for a
     * 128-token prompt cost as much as the product. X [m, k] row-major from {@code x[xOff]}, Y [m, n] row-major from
     * {@code y[yOff]}, W [n, k] either {@code w} or {@code wRows} (the other null). C' lives in a per-thread scratch
     * buffer (a fresh zeroed array per call was a quarter of a slow prefill's array-zeroing samples in a JFR profile);
     * both orientations compute every element with the same fused multiply-adds.
     */
    public static void linearRows(StridedMatrix w, RowSource wRows, float[] x, int xOff, int m, float[] y, int yOff, int threads) {
        if ((w == null) == (wRows == null)) throw new IllegalArgumentException("linearRows: give W as a matrix or as rows, not both or neither");
        int n = w != null ? w.rows() : wRows.rows(), k = w != null ? w.cols() : wRows.cols();
        Operands.checkVector("X", x, xOff, (long) m * k, "linearRows: X [" + m + ", " + k + "]");
        Operands.checkVector("Y", y, yOff, (long) m * n, "linearRows: Y [" + m + ", " + n + "]");
        if (m == 0 || n == 0) return;
        float[] ct = take(CT_BUF, n * m);
        try {
            StridedMatrix xt = StridedMatrix.of(x, xOff, k, m, 1, k);
            if (w != null) gemm(w, xt, ct, 0, m, false, threads);
            else gemm(wRows, xt, ct, 0, m, threads);
            final int tile = 32;
            Parallel.forRange((m + tile - 1) / tile, Math.max(1, Math.min(threads, Parallel.threads())), 1, (t0, t1) -> {
                for (int i0 = t0 * tile; i0 < Math.min(m, t1 * tile); i0 += tile)
                    for (int j0 = 0; j0 < n; j0 += tile)
                        for (int t = i0; t < Math.min(m, i0 + tile); t++)
                            for (int j = j0, at = yOff + t * n; j < Math.min(n, j0 + tile); j++) y[at + j] = ct[j * m + t];
            });
        } finally {
            if (ct.length <= CT_KEEP) CT_BUF.set(ct);
        }
    }

    /** linearRows' C' buffers, kept per thread up to 16 M floats (a 7B prefill of 512 tokens × 11008 is 5.6 M). */
    private static final ThreadLocal<float[]> CT_BUF = new ThreadLocal<>();
    private static final int CT_KEEP = 1 << 24;

    // ---------------------------------------------------------------------------------------------------
    // Thin shapes and small products: no packing.

    /** m == 1: C row = Bᵀ·a, a matrix-vector product over Bᵀ (contiguous rows when B is a transposed W). */
    private static void rowTimesMatrix(StridedMatrix a, StridedMatrix b, float[] c, int cOff, boolean accumulate, int threads) {
        int k = a.cols();
        float[] x;
        int xOff;
        if (a.array() != null && (a.colStride() == 1 || k == 1)) {
            x = a.array();
            xOff = (int) a.offset();
        } else {
            x = new float[k];
            xOff = 0;
            for (int p = 0; p < k; p++) x[p] = Operands.get(a, 0, p);
        }
        Sgemv.run(b.transpose(), x, xOff, c, cOff, accumulate, threads);
    }

    /** n == 1: C column = A·b, gathered through a contiguous temporary when ldc > 1. */
    private static void matrixTimesColumn(StridedMatrix a, StridedMatrix b, float[] c, int cOff, int ldc, boolean accumulate, int threads) {
        int m = a.rows(), k = a.cols();
        float[] x;
        int xOff;
        if (b.array() != null && (b.rowStride() == 1 || k == 1)) {
            x = b.array();
            xOff = (int) b.offset();
        } else {
            x = new float[k];
            xOff = 0;
            for (int p = 0; p < k; p++) x[p] = Operands.get(b, p, 0);
        }
        if (ldc == 1) {
            Sgemv.run(a, x, xOff, c, cOff, accumulate, threads);
            return;
        }
        float[] y = new float[m];
        if (accumulate) for (int i = 0; i < m; i++) y[i] = c[cOff + i * ldc];
        Sgemv.run(a, x, xOff, y, 0, accumulate, threads);
        for (int i = 0; i < m; i++) c[cOff + i * ldc] = y[i];
    }

    /**
     * A few rows times a B whose columns are contiguous (B = Wᵀ): every C element is a dot product of an A row
     * and a W row. W is streamed once, four rows at a time, each reused from L1/L2 against the A rows (which
     * stay in cache, at most 16 × k floats); threads split the W rows.
     */
    private static void fewRows(StridedMatrix a, StridedMatrix b, float[] c, int cOff, int ldc, boolean accumulate, int threads) {
        final int m = a.rows(), k = a.cols(), n = b.cols();
        final float[] x;
        final int[] rowOff = new int[m];
        if (a.array() != null && a.colStride() == 1) {
            x = a.array();
            for (int i = 0; i < m; i++) rowOff[i] = (int) (a.offset() + i * a.rowStride());
        } else {
            x = new float[m * k];
            for (int i = 0; i < m; i++) {
                rowOff[i] = i * k;
                for (int p = 0; p < k; p++) x[i * k + p] = Operands.get(a, i, p);
            }
        }
        final MemorySegment w = b.array() != null ? MemorySegment.ofArray(b.array()) : b.segment();
        final long wOff = b.offset() * Float.BYTES, wStride = b.colStride() * Float.BYTES;
        int t = (long) n * k < (1L << 21) ? 1 : threads;
        Parallel.forRange(n, t, 16, (j0, j1) -> {
            int j = j0;
            for (; j + 4 <= j1; j += 4) {
                int i = 0;
                for (; i + 4 <= m; i += 4) dots4x4(x, rowOff, i, k, w, wOff + j * wStride, wStride, c, cOff + i * ldc + j, ldc, accumulate);
                for (; i < m; i++) dots1x4(x, rowOff[i], k, w, wOff + j * wStride, wStride, c, cOff + i * ldc + j, accumulate);
            }
            for (; j < j1; j++)
                for (int i = 0; i < m; i++) {
                    float d = dot(x, rowOff[i], k, w, wOff + j * wStride);
                    int ci = cOff + i * ldc + j;
                    c[ci] = accumulate ? c[ci] + d : d;
                }
        });
    }

    /** C[i..i+4, j..j+4] (+)= A rows i..i+4 · W rows at w0, w0+ws, ..: 16 dot products sharing their loads. */
    private static void dots4x4(float[] x, int[] rowOff, int i, int k, MemorySegment w, long w0, long ws,
                                float[] c, int ci, int ldc, boolean accumulate) {
        int a0 = rowOff[i], a1 = rowOff[i + 1], a2 = rowOff[i + 2], a3 = rowOff[i + 3];
        long w1 = w0 + ws, w2 = w1 + ws, w3 = w2 + ws;
        FloatVector z = FloatVector.zero(S);
        FloatVector s00 = z, s01 = z, s02 = z, s03 = z, s10 = z, s11 = z, s12 = z, s13 = z;
        FloatVector s20 = z, s21 = z, s22 = z, s23 = z, s30 = z, s31 = z, s32 = z, s33 = z;
        int kv = k - k % L, p = 0;
        for (; p < kv; p += L) {
            long pb = (long) p * Float.BYTES;
            FloatVector v0 = FloatVector.fromMemorySegment(S, w, w0 + pb, LE), v1 = FloatVector.fromMemorySegment(S, w, w1 + pb, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(S, w, w2 + pb, LE), v3 = FloatVector.fromMemorySegment(S, w, w3 + pb, LE);
            FloatVector u = FloatVector.fromArray(S, x, a0 + p);
            s00 = u.fma(v0, s00); s01 = u.fma(v1, s01); s02 = u.fma(v2, s02); s03 = u.fma(v3, s03);
            u = FloatVector.fromArray(S, x, a1 + p);
            s10 = u.fma(v0, s10); s11 = u.fma(v1, s11); s12 = u.fma(v2, s12); s13 = u.fma(v3, s13);
            u = FloatVector.fromArray(S, x, a2 + p);
            s20 = u.fma(v0, s20); s21 = u.fma(v1, s21); s22 = u.fma(v2, s22); s23 = u.fma(v3, s23);
            u = FloatVector.fromArray(S, x, a3 + p);
            s30 = u.fma(v0, s30); s31 = u.fma(v1, s31); s32 = u.fma(v2, s32); s33 = u.fma(v3, s33);
        }
        float[] d = {
            sum(s00), sum(s01), sum(s02), sum(s03), sum(s10), sum(s11), sum(s12), sum(s13),
            sum(s20), sum(s21), sum(s22), sum(s23), sum(s30), sum(s31), sum(s32), sum(s33)};
        for (; p < k; p++) {
            long pb = (long) p * Float.BYTES;
            float v0 = w.get(Operands.F32, w0 + pb), v1 = w.get(Operands.F32, w1 + pb);
            float v2 = w.get(Operands.F32, w2 + pb), v3 = w.get(Operands.F32, w3 + pb);
            for (int r = 0; r < 4; r++) {
                float u = x[rowOff[i + r] + p];
                d[4 * r] += u * v0; d[4 * r + 1] += u * v1; d[4 * r + 2] += u * v2; d[4 * r + 3] += u * v3;
            }
        }
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++) {
                int o = ci + r * ldc + q;
                c[o] = accumulate ? c[o] + d[4 * r + q] : d[4 * r + q];
            }
    }

    /** C[i, j..j+4] (+)= A row at a0 · W rows at w0, w0+ws, .. */
    private static void dots1x4(float[] x, int a0, int k, MemorySegment w, long w0, long ws, float[] c, int ci, boolean accumulate) {
        long w1 = w0 + ws, w2 = w1 + ws, w3 = w2 + ws;
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        int kv = k - k % L, p = 0;
        for (; p < kv; p += L) {
            long pb = (long) p * Float.BYTES;
            FloatVector u = FloatVector.fromArray(S, x, a0 + p);
            s0 = u.fma(FloatVector.fromMemorySegment(S, w, w0 + pb, LE), s0);
            s1 = u.fma(FloatVector.fromMemorySegment(S, w, w1 + pb, LE), s1);
            s2 = u.fma(FloatVector.fromMemorySegment(S, w, w2 + pb, LE), s2);
            s3 = u.fma(FloatVector.fromMemorySegment(S, w, w3 + pb, LE), s3);
        }
        float d0 = sum(s0), d1 = sum(s1), d2 = sum(s2), d3 = sum(s3);
        for (; p < k; p++) {
            long pb = (long) p * Float.BYTES;
            float u = x[a0 + p];
            d0 += u * w.get(Operands.F32, w0 + pb); d1 += u * w.get(Operands.F32, w1 + pb);
            d2 += u * w.get(Operands.F32, w2 + pb); d3 += u * w.get(Operands.F32, w3 + pb);
        }
        if (accumulate) {
            c[ci] += d0; c[ci + 1] += d1; c[ci + 2] += d2; c[ci + 3] += d3;
        } else {
            c[ci] = d0; c[ci + 1] = d1; c[ci + 2] = d2; c[ci + 3] = d3;
        }
    }

    private static float dot(float[] x, int a0, int k, MemorySegment w, long w0) {
        FloatVector s = FloatVector.zero(S);
        int kv = k - k % L, p = 0;
        for (; p < kv; p += L)
            s = FloatVector.fromArray(S, x, a0 + p).fma(FloatVector.fromMemorySegment(S, w, w0 + (long) p * Float.BYTES, LE), s);
        float d = sum(s);
        for (; p < k; p++) d += x[a0 + p] * w.get(Operands.F32, w0 + (long) p * Float.BYTES);
        return d;
    }

    /** Σ lanes in a fixed order (not reduceLanes, whose order depends on the JIT tier; see {@link VectorMath}). */
    private static float sum(FloatVector v) { return VectorMath.sum(v); }

    /** Small products: copy B row-major, then each C row is a sum of scaled B rows. */
    private static void small(StridedMatrix a, StridedMatrix b, float[] c, int cOff, int ldc, boolean accumulate) {
        int m = a.rows(), k = a.cols(), n = b.cols();
        float[] bb = new float[k * n];
        for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) bb[p * n + j] = Operands.get(b, p, j);
        int nv = n - n % L;
        for (int i = 0; i < m; i++) {
            int ci = cOff + i * ldc;
            if (!accumulate) Arrays.fill(c, ci, ci + n, 0f);
            for (int p = 0; p < k; p++) {
                float aip = Operands.get(a, i, p);
                FloatVector av = FloatVector.broadcast(S, aip);
                int j = 0;
                for (; j < nv; j += L)
                    FloatVector.fromArray(S, bb, p * n + j).fma(av, FloatVector.fromArray(S, c, ci + j)).intoArray(c, ci + j);
                for (; j < n; j++) c[ci + j] += aip * bb[p * n + j];
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // The blocked, packed product.

    /**
     * Splits C into one stripe per thread, whole NR panels of columns (B is then packed once in all) or, when
     * C is taller than wide, whole MR panels of rows; each thread packs and multiplies its stripe on its own,
     * so a call costs one fork/join and no barrier.
     */
    private static void blocked(StridedMatrix a, RowSource aRows, StridedMatrix b, float[] c, int cOff, int ldc, boolean accumulate, int threads) {
        final int m = a != null ? a.rows() : aRows.rows(), n = b.cols();
        final int t = Math.max(1, Math.min(threads, Parallel.threads()));
        final int mPanels = (m + MR - 1) / MR, nPanels = (n + NR - 1) / NR;
        if (t == 1) stripe(a, aRows, b, c, cOff, ldc, accumulate, 0, m, 0, n);
        else if (nPanels >= 2 * t && (n >= m || mPanels < 2 * t))
            Parallel.forRange(nPanels, t, 1, (q0, q1) -> stripe(a, aRows, b, c, cOff, ldc, accumulate, 0, m, q0 * NR, Math.min(q1 * NR, n)));
        else
            Parallel.forRange(mPanels, t, 1, (r0, r1) -> stripe(a, aRows, b, c, cOff, ldc, accumulate, r0 * MR, Math.min(r1 * MR, m), 0, n));
    }

    /** C[i0..i1, j0..j1] (+)= A[i0..i1, :] · B[:, j0..j1] on the calling thread; A is {@code a}, or {@code aRows} when a is null. */
    private static void stripe(StridedMatrix a, RowSource aRows, StridedMatrix b, float[] c, int cOff, int ldc, boolean accumulate,
                               int i0, int i1, int j0, int j1) {
        final int k = b.rows();
        // k is cut into equal slices of at most KC (4096 = 6×683 rather than 5×768 + 256).
        final int kSlices = (k + KC - 1) / KC, kSlice = (k + kSlices - 1) / kSlices;
        float[] bPack = take(B_BUF, kSlice * Math.min(NC, roundUp(j1 - j0, NR)));
        float[] aPack = take(A_BUF, MC * KC + MR * NR);
        final int tile = MC * KC;   // the scratch tile for edges sits behind the packed A block
        try {
            for (int jc = j0; jc < j1; jc += NC) {
                int nc = Math.min(NC, j1 - jc), nPanels = (nc + NR - 1) / NR;
                for (int pc = 0; pc < k; pc += kSlice) {
                    int kc = Math.min(kSlice, k - pc);
                    boolean load = accumulate || pc > 0;
                    packB(b, pc, kc, jc, nc, bPack);
                    for (int ic = i0; ic < i1; ic += MC) {
                        int mc = Math.min(MC, i1 - ic);
                        if (a != null) packA(a, ic, mc, pc, kc, aPack);
                        else packRows(aRows, ic, mc, pc, kc, aPack);
                        for (int q = 0; q < nPanels; q++) {
                            int jr = q * NR, nr = Math.min(NR, nc - jr), bOff = q * NR * kc;
                            for (int ir = 0; ir < mc; ir += MR) {
                                int mr = Math.min(MR, mc - ir), aOff = ir * KC;
                                int cIdx = cOff + (ic + ir) * ldc + jc + jr;
                                if (mr == MR && nr == NR) {
                                    kernel(kc, aPack, aOff, bPack, bOff, c, cIdx, ldc, load);
                                } else {
                                    kernel(kc, aPack, aOff, bPack, bOff, aPack, tile, NR, false);
                                    for (int r = 0; r < mr; r++)
                                        for (int j = 0; j < nr; j++) {
                                            float v = aPack[tile + r * NR + j];
                                            int ci = cIdx + r * ldc + j;
                                            c[ci] = load ? c[ci] + v : v;
                                        }
                                }
                            }
                        }
                    }
                }
            }
        } finally {
            A_BUF.set(aPack);
            B_BUF.set(bPack);
        }
    }

    /**
     * The micro-kernel: C[14 × NR tile at cIdx] = (C if load, else 0) + A panel · B panel over kc steps.
     * A panel: 14 rows of KC floats from aOff (row r, step p at aOff + r·KC + p). B panel: kc rows of NR
     * floats from bOff. The 28 accumulators are plain locals so C2 keeps them in registers.
     */
    private static void kernel(int kc, float[] ap, int aOff, float[] bp, int bOff, float[] c, int cIdx, int ldc, boolean load) {
        final int r1 = cIdx + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc, r6 = r5 + ldc,
                r7 = r6 + ldc, r8 = r7 + ldc, r9 = r8 + ldc, r10 = r9 + ldc, r11 = r10 + ldc, r12 = r11 + ldc, r13 = r12 + ldc;
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = load ? FloatVector.fromArray(S, c, cIdx) : z, c01 = load ? FloatVector.fromArray(S, c, cIdx + L) : z;
        FloatVector c10 = load ? FloatVector.fromArray(S, c, r1) : z, c11 = load ? FloatVector.fromArray(S, c, r1 + L) : z;
        FloatVector c20 = load ? FloatVector.fromArray(S, c, r2) : z, c21 = load ? FloatVector.fromArray(S, c, r2 + L) : z;
        FloatVector c30 = load ? FloatVector.fromArray(S, c, r3) : z, c31 = load ? FloatVector.fromArray(S, c, r3 + L) : z;
        FloatVector c40 = load ? FloatVector.fromArray(S, c, r4) : z, c41 = load ? FloatVector.fromArray(S, c, r4 + L) : z;
        FloatVector c50 = load ? FloatVector.fromArray(S, c, r5) : z, c51 = load ? FloatVector.fromArray(S, c, r5 + L) : z;
        FloatVector c60 = load ? FloatVector.fromArray(S, c, r6) : z, c61 = load ? FloatVector.fromArray(S, c, r6 + L) : z;
        FloatVector c70 = load ? FloatVector.fromArray(S, c, r7) : z, c71 = load ? FloatVector.fromArray(S, c, r7 + L) : z;
        FloatVector c80 = load ? FloatVector.fromArray(S, c, r8) : z, c81 = load ? FloatVector.fromArray(S, c, r8 + L) : z;
        FloatVector c90 = load ? FloatVector.fromArray(S, c, r9) : z, c91 = load ? FloatVector.fromArray(S, c, r9 + L) : z;
        FloatVector ca0 = load ? FloatVector.fromArray(S, c, r10) : z, ca1 = load ? FloatVector.fromArray(S, c, r10 + L) : z;
        FloatVector cb0 = load ? FloatVector.fromArray(S, c, r11) : z, cb1 = load ? FloatVector.fromArray(S, c, r11 + L) : z;
        FloatVector cc0 = load ? FloatVector.fromArray(S, c, r12) : z, cc1 = load ? FloatVector.fromArray(S, c, r12 + L) : z;
        FloatVector cd0 = load ? FloatVector.fromArray(S, c, r13) : z, cd1 = load ? FloatVector.fromArray(S, c, r13 + L) : z;
        for (int p = 0; p < kc; p++) {
            int bi = bOff + p * NR, ai = aOff + p;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi), b1 = FloatVector.fromArray(S, bp, bi + L), av;
            av = FloatVector.broadcast(S, ap[ai]);           c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, ap[ai + KC]);      c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, ap[ai + 2 * KC]);  c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, ap[ai + 3 * KC]);  c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, ap[ai + 4 * KC]);  c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, ap[ai + 5 * KC]);  c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, ap[ai + 6 * KC]);  c60 = av.fma(b0, c60); c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, ap[ai + 7 * KC]);  c70 = av.fma(b0, c70); c71 = av.fma(b1, c71);
            av = FloatVector.broadcast(S, ap[ai + 8 * KC]);  c80 = av.fma(b0, c80); c81 = av.fma(b1, c81);
            av = FloatVector.broadcast(S, ap[ai + 9 * KC]);  c90 = av.fma(b0, c90); c91 = av.fma(b1, c91);
            av = FloatVector.broadcast(S, ap[ai + 10 * KC]); ca0 = av.fma(b0, ca0); ca1 = av.fma(b1, ca1);
            av = FloatVector.broadcast(S, ap[ai + 11 * KC]); cb0 = av.fma(b0, cb0); cb1 = av.fma(b1, cb1);
            av = FloatVector.broadcast(S, ap[ai + 12 * KC]); cc0 = av.fma(b0, cc0); cc1 = av.fma(b1, cc1);
            av = FloatVector.broadcast(S, ap[ai + 13 * KC]); cd0 = av.fma(b0, cd0); cd1 = av.fma(b1, cd1);
        }
        // Plain stores only: an add here too would push the method past C2's inlining node budget.
        c00.intoArray(c, cIdx); c01.intoArray(c, cIdx + L);
        c10.intoArray(c, r1);   c11.intoArray(c, r1 + L);
        c20.intoArray(c, r2);   c21.intoArray(c, r2 + L);
        c30.intoArray(c, r3);   c31.intoArray(c, r3 + L);
        c40.intoArray(c, r4);   c41.intoArray(c, r4 + L);
        c50.intoArray(c, r5);   c51.intoArray(c, r5 + L);
        c60.intoArray(c, r6);   c61.intoArray(c, r6 + L);
        c70.intoArray(c, r7);   c71.intoArray(c, r7 + L);
        c80.intoArray(c, r8);   c81.intoArray(c, r8 + L);
        c90.intoArray(c, r9);   c91.intoArray(c, r9 + L);
        ca0.intoArray(c, r10);  ca1.intoArray(c, r10 + L);
        cb0.intoArray(c, r11);  cb1.intoArray(c, r11 + L);
        cc0.intoArray(c, r12);  cc1.intoArray(c, r12 + L);
        cd0.intoArray(c, r13);  cd1.intoArray(c, r13 + L);
    }

    // ---------------------------------------------------------------------------------------------------
    // Packing.

    /**
     * Packs rows [ic, ic+mc) × k slice [pc, pc+kc) of A into MR-row panels: panel q holds rows ic+q·MR.. as MR
     * rows of KC floats (row r, step p at q·MR·KC + r·KC + p). Rows past mc are zero.
     */
    private static void packA(StridedMatrix a, int ic, int mc, int pc, int kc, float[] dst) {
        long off = a.offset(), rs = a.rowStride(), cs = a.colStride();
        float[] arr = a.array();
        MemorySegment seg = a.segment();
        for (int ir = 0; ir < mc; ir += MR) {
            int base = ir * KC, mr = Math.min(MR, mc - ir);
            if (cs == 1) {                         // row-major: each panel row is a contiguous copy
                for (int r = 0; r < mr; r++) {
                    long src = off + (long) (ic + ir + r) * rs + pc;
                    if (arr != null) System.arraycopy(arr, (int) src, dst, base + r * KC, kc);
                    else MemorySegment.copy(seg, Operands.F32, src * Float.BYTES, dst, base + r * KC, kc);
                }
            } else if (rs == 1 && arr != null) {   // transposed (column-major): mr contiguous values per step
                for (int p = 0; p < kc; p++) {
                    int src = (int) (off + ic + ir + (long) (pc + p) * cs);
                    for (int r = 0; r < mr; r++) dst[base + r * KC + p] = arr[src + r];
                }
            } else {
                for (int r = 0; r < mr; r++)
                    for (int p = 0; p < kc; p++) dst[base + r * KC + p] = Operands.get(a, ic + ir + r, pc + p);
            }
            for (int r = mr; r < MR; r++) Arrays.fill(dst, base + r * KC, base + r * KC + kc, 0f);
        }
    }

    /** {@link #packA} for rows produced by a {@link RowSource}: each panel row is written in place by the source. */
    private static void packRows(RowSource a, int ic, int mc, int pc, int kc, float[] dst) {
        for (int ir = 0; ir < mc; ir += MR) {
            int base = ir * KC, mr = Math.min(MR, mc - ir);
            for (int r = 0; r < mr; r++) a.row(ic + ir + r, pc, kc, dst, base + r * KC);
            for (int r = mr; r < MR; r++) Arrays.fill(dst, base + r * KC, base + r * KC + kc, 0f);
        }
    }

    /**
     * Packs the block at columns jc.. (nc wide) × k slice [pc, pc+kc): panel q holds
     * columns jc+q·NR.. as kc rows of NR floats from q·NR·kc. Columns past nc are zero.
     */
    private static void packB(StridedMatrix b, int pc, int kc, int jc, int nc, float[] dst) {
        long off = b.offset(), rs = b.rowStride(), cs = b.colStride();
        float[] arr = b.array();
        MemorySegment seg = b.segment();
        for (int q = 0, panels = (nc + NR - 1) / NR; q < panels; q++) {
            int j0 = jc + q * NR, nr = Math.min(NR, jc + nc - j0), base = q * NR * kc;
            if (cs == 1 && nr == NR) {              // row-major: NR contiguous floats per step, vector copies
                for (int p = 0; p < kc; p++) {
                    long src = off + (long) (pc + p) * rs + j0;
                    int d = base + p * NR;
                    if (arr != null) {
                        for (int v = 0; v < NR; v += L) FloatVector.fromArray(S, arr, (int) src + v).intoArray(dst, d + v);
                    } else {
                        for (int v = 0; v < NR; v += L)
                            FloatVector.fromMemorySegment(S, seg, (src + v) * Float.BYTES, LE).intoArray(dst, d + v);
                    }
                }
                continue;
            }
            if (cs == 1) {                          // row-major edge panel
                for (int p = 0; p < kc; p++)
                    for (int j = 0; j < nr; j++) {
                        long src = off + (long) (pc + p) * rs + j0 + j;
                        dst[base + p * NR + j] = arr != null ? arr[(int) src] : seg.get(Operands.F32, src * Float.BYTES);
                    }
            } else if (rs == 1) {                   // transposed (e.g. Wᵀ of a row-major W): columns contiguous
                // A transpose: 32 steps at a time so the written 32×NR piece of the panel stays in L1 while
                // each of the nr source columns is read sequentially.
                for (int pb = 0; pb < kc; pb += 32) {
                    int pe = Math.min(kc, pb + 32);
                    for (int j = 0; j < nr; j++) {
                        long src = off + (long) (j0 + j) * cs + pc;
                        if (arr != null) {
                            int s = (int) src;
                            for (int p = pb; p < pe; p++) dst[base + p * NR + j] = arr[s + p];
                        } else {
                            long s = src * Float.BYTES;
                            for (int p = pb; p < pe; p++) dst[base + p * NR + j] = seg.get(Operands.F32, s + (long) p * Float.BYTES);
                        }
                    }
                }
            } else {
                for (int p = 0; p < kc; p++)
                    for (int j = 0; j < nr; j++) dst[base + p * NR + j] = Operands.get(b, pc + p, j0 + j);
            }
            if (nr < NR) for (int p = 0; p < kc; p++) Arrays.fill(dst, base + p * NR + nr, base + (p + 1) * NR, 0f);
        }
    }

    // ---------------------------------------------------------------------------------------------------

    private static int roundUp(int x, int r) { return (x + r - 1) / r * r; }

    /** A buffer of at least {@code size} floats from {@code cache}, which holds nothing until it is set back. */
    private static float[] take(ThreadLocal<float[]> cache, int size) {
        float[] buf = cache.get();
        if (buf == null || buf.length < size) return new float[size];
        cache.set(null);
        return buf;
    }
}
