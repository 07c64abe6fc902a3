package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * f32 matrix-vector product {@code y = A·x} (or {@code y += A·x}). The decode-time case, {@code W x} with
 * {@code W [out, in]} row-major and far larger than the caches, is bound by memory bandwidth: each row is a dot
 * product, rows are split across threads, and four rows are walked together so every vector of {@code x}
 * loaded from cache feeds four fused multiply-adds on streamed matrix data.
 */
public final class Sgemv {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /**
     * Below this many matrix elements (1 MiB) one thread is used. Handing a loop to {@code Parallel}'s spinning
     * team costs about a microsecond (tens of µs when the team has parked, or through the fork-join pool: an empty
     * loop took 35-42 µs there on the Zen 4 guest); the
     * 256 × 2048 K/V projections of a TinyLlama-shaped model (2 MiB) are the smallest matrices worth splitting.
     */
    private static final long PARALLEL_MIN = 1L << 18;
    /** Fewest matrix elements one thread's share should hold. */
    private static final int GRAIN_ELEMENTS = 1 << 15;

    private Sgemv() {}

    /**
     * {@code y = A·x}, or {@code y += A·x} when {@code accumulate}: A is m×k, x has k elements from
     * {@code x[xOff]}, y has m elements from {@code y[yOff]}. The fast path is A with {@code colStride == 1}
     * (rows contiguous), from a float[] or a little-endian MemorySegment; A with {@code rowStride == 1} (a
     * transposed row-major matrix) is vectorized as a sum of scaled columns; other strides take a simple loop.
     * Uses up to {@code threads} threads of {@link Parallel#pool()} (one when A is a segment confined to the
     * calling thread). {@code y} must not overlap A or x.
     *
     * @throws IllegalArgumentException when x or y is too short for A's shape, A reaches outside its storage,
     *                                  or {@code threads < 1}
     */
    public static void gemv(StridedMatrix a, float[] x, int xOff, float[] y, int yOff, boolean accumulate, int threads) {
        if (a == null) throw new IllegalArgumentException("gemv: A is null");
        int m = a.rows(), k = a.cols();
        String ctx = "gemv: A is " + m + "x" + k;
        Operands.checkVector("x", x, xOff, k, ctx);
        Operands.checkVector("y", y, yOff, m, ctx);
        Operands.checkBounds("gemv: A", a);
        Operands.checkThreads("gemv", threads);
        run(Operands.heapView(a), x, xOff, y, yOff, accumulate, Operands.usableThreads(threads, a));
    }

    /** {@link #gemv} after the checks; also the m == 1 / n == 1 path of {@link Sgemm}. */
    static void run(StridedMatrix a, float[] x, int xOff, float[] y, int yOff, boolean accumulate, int threads) {
        int m = a.rows(), k = a.cols();
        if (m == 0) return;
        if (k == 0) {
            if (!accumulate) Arrays.fill(y, yOff, yOff + m, 0f);
            return;
        }
        int t = (long) m * k < PARALLEL_MIN ? 1 : threads;
        if (a.colStride() == 1) {
            int grain = Math.max(4, GRAIN_ELEMENTS / k);
            float[] x0 = xOff == 0 ? x : Arrays.copyOfRange(x, xOff, xOff + k);
            if (a.array() != null)
                Parallel.forRange(m, t, grain, (r0, r1) -> dotRows(a.array(), a.offset(), a.rowStride(), k, r0, r1, x0, y, yOff, accumulate));
            else
                Parallel.forRange(m, t, grain, (r0, r1) -> dotRows(a.segment(), a.offset(), a.rowStride(), k, r0, r1, x0, y, yOff, accumulate));
        } else if (a.rowStride() == 1 && a.array() != null) {
            int grain = Math.max(4 * L, GRAIN_ELEMENTS / k);
            Parallel.forRange(m, t, grain, (i0, i1) -> sumColumns(a.array(), a.offset(), a.colStride(), k, i0, i1, x, xOff, y, yOff, accumulate));
        } else {
            int grain = Math.max(4, GRAIN_ELEMENTS / k);
            Parallel.forRange(m, t, grain, (r0, r1) -> {
                for (int i = r0; i < r1; i++) {
                    float s = 0;
                    for (int p = 0; p < k; p++) s += Operands.get(a, i, p) * x[xOff + p];
                    y[yOff + i] = accumulate ? y[yOff + i] + s : s;
                }
            });
        }
    }

    /**
     * Rows [r0, r1) of a heap matrix with contiguous rows, four at a time; x starts at index 0 (an offset in
     * the x index cost 20% of the bandwidth, so {@link #run} copies an offset x first). The loops over k live
     * in small methods called once per four rows, so the JIT compiles them as ordinary hot methods rather
     * than on-stack-replacing one long-running loop.
     */
    private static void dotRows(float[] a, long off, long rs, int k, int r0, int r1, float[] x, float[] y, int yOff, boolean accumulate) {
        int i = r0;
        for (; i + 4 <= r1; i += 4) dot4(a, (int) (off + i * rs), (int) rs, k, x, y, yOff + i, accumulate);
        for (; i < r1; i++) dot1(a, (int) (off + i * rs), k, x, y, yOff + i, accumulate);
    }

    /**
     * y[yi..yi+4] (+)= rows at o0, o0+rs, .. · x: one vector accumulator per row, each x vector loaded once
     * for four rows. Four rows of one vector each streamed fastest (41 GB/s on one core against 27-34 for
     * two vectors per row or one row unrolled by four, on a 1 GiB off-heap matrix).
     */
    private static void dot4(float[] a, int o0, int rs, int k, float[] x, float[] y, int yi, boolean accumulate) {
        int o1 = o0 + rs, o2 = o1 + rs, o3 = o2 + rs, kv = k - k % L;
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        for (int p = 0; p < kv; p += L) {
            FloatVector xv = FloatVector.fromArray(S, x, p);
            s0 = FloatVector.fromArray(S, a, o0 + p).fma(xv, s0);
            s1 = FloatVector.fromArray(S, a, o1 + p).fma(xv, s1);
            s2 = FloatVector.fromArray(S, a, o2 + p).fma(xv, s2);
            s3 = FloatVector.fromArray(S, a, o3 + p).fma(xv, s3);
        }
        float d0 = sum(s0), d1 = sum(s1), d2 = sum(s2), d3 = sum(s3);
        for (int p = kv; p < k; p++) {
            float xp = x[p];
            d0 += a[o0 + p] * xp; d1 += a[o1 + p] * xp; d2 += a[o2 + p] * xp; d3 += a[o3 + p] * xp;
        }
        store(y, yi, d0, d1, d2, d3, accumulate);
    }

    /**
     * y[yi] (+)= row at o · x, summed in exactly the order of {@link #dot4} (one vector accumulator, its fixed lane
     * sum, then the scalar tail): whether a row falls in a group of four or is left over depends on how the rows
     * were split over threads, and its value must not.
     */
    private static void dot1(float[] a, int o, int k, float[] x, float[] y, int yi, boolean accumulate) {
        int kv = k - k % L, p = 0;
        FloatVector s0 = FloatVector.zero(S);
        for (; p < kv; p += L) s0 = FloatVector.fromArray(S, a, o + p).fma(FloatVector.fromArray(S, x, p), s0);
        float d = sum(s0);
        for (; p < k; p++) d += a[o + p] * x[p];
        y[yi] = accumulate ? y[yi] + d : d;
    }

    /** {@link #dotRows(float[], long, long, int, int, int, float[], float[], int, boolean)} over a segment. */
    private static void dotRows(MemorySegment a, long off, long rs, int k, int r0, int r1, float[] x, float[] y, int yOff, boolean accumulate) {
        int i = r0;
        for (; i + 4 <= r1; i += 4) dot4(a, (off + i * rs) * Float.BYTES, rs * Float.BYTES, k, x, y, yOff + i, accumulate);
        for (; i < r1; i++) dot1(a, (off + i * rs) * Float.BYTES, k, x, y, yOff + i, accumulate);
    }

    /** {@link #dot4(float[], int, int, int, float[], float[], int, boolean)} over a segment (byte offsets). */
    private static void dot4(MemorySegment a, long o0, long rb, int k, float[] x, float[] y, int yi, boolean accumulate) {
        long o1 = o0 + rb, o2 = o1 + rb, o3 = o2 + rb;
        int kv = k - k % L;
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        for (int p = 0; p < kv; p += L) {
            long b = (long) p * Float.BYTES;
            FloatVector xv = FloatVector.fromArray(S, x, p);
            s0 = FloatVector.fromMemorySegment(S, a, o0 + b, LE).fma(xv, s0);
            s1 = FloatVector.fromMemorySegment(S, a, o1 + b, LE).fma(xv, s1);
            s2 = FloatVector.fromMemorySegment(S, a, o2 + b, LE).fma(xv, s2);
            s3 = FloatVector.fromMemorySegment(S, a, o3 + b, LE).fma(xv, s3);
        }
        float d0 = sum(s0), d1 = sum(s1), d2 = sum(s2), d3 = sum(s3);
        for (int p = kv; p < k; p++) {
            float xp = x[p];
            long b = (long) p * Float.BYTES;
            d0 += a.get(Operands.F32, o0 + b) * xp; d1 += a.get(Operands.F32, o1 + b) * xp;
            d2 += a.get(Operands.F32, o2 + b) * xp; d3 += a.get(Operands.F32, o3 + b) * xp;
        }
        store(y, yi, d0, d1, d2, d3, accumulate);
    }

    /** {@link #dot1(float[], int, int, float[], float[], int, boolean)} over a segment (byte offset). */
    private static void dot1(MemorySegment a, long o, int k, float[] x, float[] y, int yi, boolean accumulate) {
        int kv = k - k % L, p = 0;
        FloatVector s0 = FloatVector.zero(S);
        for (; p < kv; p += L)
            s0 = FloatVector.fromMemorySegment(S, a, o + (long) p * Float.BYTES, LE).fma(FloatVector.fromArray(S, x, p), s0);
        float d = sum(s0);
        for (; p < k; p++) d += a.get(Operands.F32, o + (long) p * Float.BYTES) * x[p];
        y[yi] = accumulate ? y[yi] + d : d;
    }

    /** Σ lanes in a fixed order (not reduceLanes, whose order depends on the JIT tier; see {@link VectorMath}). */
    private static float sum(FloatVector v) { return VectorMath.sum(v); }

    private static void store(float[] y, int o, float d0, float d1, float d2, float d3, boolean accumulate) {
        if (accumulate) {
            y[o] += d0; y[o + 1] += d1; y[o + 2] += d2; y[o + 3] += d3;
        } else {
            y[o] = d0; y[o + 1] = d1; y[o + 2] = d2; y[o + 3] = d3;
        }
    }

    /**
     * Entries [i0, i1) of y for a heap A whose columns are contiguous (rowStride 1, e.g. the transpose of a
     * row-major matrix): y = Σ_p x[p]·A[:, p], four columns per pass over the y slice.
     */
    private static void sumColumns(float[] a, long off, long cs, int k, int i0, int i1,
                                   float[] x, int xOff, float[] y, int yOff, boolean accumulate) {
        if (!accumulate) Arrays.fill(y, yOff + i0, yOff + i1, 0f);
        int n = i1 - i0, nv = n - n % L;
        int p = 0;
        for (; p + 4 <= k; p += 4) {
            int c0 = (int) (off + p * cs + i0), c1 = (int) (c0 + cs), c2 = (int) (c1 + cs), c3 = (int) (c2 + cs);
            float x0 = x[xOff + p], x1 = x[xOff + p + 1], x2 = x[xOff + p + 2], x3 = x[xOff + p + 3];
            FloatVector v0 = FloatVector.broadcast(S, x0), v1 = FloatVector.broadcast(S, x1);
            FloatVector v2 = FloatVector.broadcast(S, x2), v3 = FloatVector.broadcast(S, x3);
            int j = 0;
            for (; j < nv; j += L) {
                FloatVector acc = FloatVector.fromArray(S, y, yOff + i0 + j);
                acc = FloatVector.fromArray(S, a, c0 + j).fma(v0, acc);
                acc = FloatVector.fromArray(S, a, c1 + j).fma(v1, acc);
                acc = FloatVector.fromArray(S, a, c2 + j).fma(v2, acc);
                acc = FloatVector.fromArray(S, a, c3 + j).fma(v3, acc);
                acc.intoArray(y, yOff + i0 + j);
            }
            for (; j < n; j++) { // the vector lanes' fma chain, so an entry's value does not depend on the thread split
                int yi = yOff + i0 + j;
                y[yi] = Math.fma(a[c3 + j], x3, Math.fma(a[c2 + j], x2, Math.fma(a[c1 + j], x1, Math.fma(a[c0 + j], x0, y[yi]))));
            }
        }
        for (; p < k; p++) {
            int c0 = (int) (off + p * cs + i0);
            float x0 = x[xOff + p];
            FloatVector v0 = FloatVector.broadcast(S, x0);
            int j = 0;
            for (; j < nv; j += L)
                FloatVector.fromArray(S, a, c0 + j).fma(v0, FloatVector.fromArray(S, y, yOff + i0 + j)).intoArray(y, yOff + i0 + j);
            for (; j < n; j++) y[yOff + i0 + j] = Math.fma(a[c0 + j], x0, y[yOff + i0 + j]);
        }
    }
}
