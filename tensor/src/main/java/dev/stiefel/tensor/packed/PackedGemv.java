package dev.stiefel.tensor.packed;

import static dev.stiefel.tensor.packed.PackedCodes.F;
import static dev.stiefel.tensor.packed.PackedCodes.L;
import static dev.stiefel.tensor.packed.PackedCodes.V;
import static dev.stiefel.tensor.packed.PackedCodes.toFloat;

import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.cpu.Sgemm;
import dev.stiefel.tensor.cpu.StridedMatrix;
import dev.stiefel.tensor.cpu.VectorMath;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Products of a {@link PackedMatrix} W [n, k] with f32 activations (W·A16): {@link #gemv} for one token (decode) and
 * {@link #gemm} for many (prefill).
 *
 * <p>gemv: codes are decoded in registers ({@link PackedCodes}) and multiplied with x as they come; the group's
 * scale and zero point are applied once per group, not per element:
 * <pre>
 *   Σ_j s·(c_j − z)·x_j  =  s·(Σ_j c_j·x_j − z·Σ_j x_j)
 * </pre>
 * where Σ_j x_j over each group is the same for every row, so it is computed once per call (lane-wise: each lane
 * keeps its own partial sums until the row's single fixed-order lane sum, {@link VectorMath#sum}). x is copied once
 * into a buffer padded with zeros to whole blocks, so a row has no tail: padded columns have code 0 and x 0 and add
 * nothing. A row's value is one fixed sequence of operations whichever thread computes it. 4-bit rows and grouped 8-bit
 * rows of at least one chunk (128 or 64 columns on AVX-512) go through {@link ChunkedGemv} instead, which reads a vector
 * of ints of codes at a time.
 *
 * <p>gemm: C = W·Xᵀ through {@link Sgemm}'s blocked product with W as the A operand: each thread dequantizes its W
 * rows, one k slice of 14 rows at a time, straight into the packed A panels (the f32 values are the fake quantizer's,
 * bit for bit), so no f32 copy of W exists; Xᵀ is the B operand, a transposed view of the row-major X. The [n, m]
 * result is transposed into Y [m, n]. Each element is the f32 product of X and the fake-quantized W, summed as
 * {@link Sgemm} sums.
 */
public final class PackedGemv {
    /** Below this many weights (1 MiB of f32 moved as ≤ 512 KiB of codes) one thread is used; see {@code cpu.Sgemv}. */
    private static final long PARALLEL_MIN = 1L << 18;
    /** Fewest weights one thread's share should hold. */
    private static final int GRAIN_ELEMENTS = 1 << 15;

    private PackedGemv() {}

    /**
     * y = W·x: x has W.cols() elements from {@code x[xOff]}, y W.rows() from {@code y[yOff]}; up to {@code threads}
     * threads over rows.
     */
    public static void gemv(PackedMatrix w, float[] x, int xOff, float[] y, int yOff, int threads) {
        int n = w.rows(), k = w.cols();
        checkVector("x", x, xOff, k, w);
        checkVector("y", y, yOff, n, w);
        if (threads < 1) throw new IllegalArgumentException("packed gemv: threads must be >= 1, got " + threads);
        if (n == 0) return;
        if (k == 0) {
            Arrays.fill(y, yOff, yOff + n, 0f);
            return;
        }
        float[] xp = new float[w.blocks() * PackedMatrix.BLOCK];
        System.arraycopy(x, xOff, xp, 0, k);
        boolean chunked = ChunkedGemv.fits(w);
        float[] xs = chunked ? null : groupSums(w, xp); // ChunkedGemv keeps its own, and only for an asymmetric grid
        int t = (long) n * k < PARALLEL_MIN ? 1 : w.usableThreads(threads), grain = Math.max(4, GRAIN_ELEMENTS / k);
        if (chunked) {
            ChunkedGemv cg = new ChunkedGemv(w, xp);
            Parallel.forRange(n, t, grain, (r0, r1) -> { for (int r = r0; r < r1; r++) y[yOff + r] = cg.row(r); });
            return;
        }
        switch (w.bits()) { // one row kernel per format, chosen once per call
            case 2 -> Parallel.forRange(n, t, grain, (r0, r1) -> { for (int r = r0; r < r1; r++) y[yOff + r] = row2(w, r, xp, xs); });
            case 3 -> Parallel.forRange(n, t, grain, (r0, r1) -> { for (int r = r0; r < r1; r++) y[yOff + r] = row3(w, r, xp, xs); });
            case 4 -> Parallel.forRange(n, t, grain, (r0, r1) -> { for (int r = r0; r < r1; r++) y[yOff + r] = row4(w, r, xp, xs); });
            default -> Parallel.forRange(n, t, grain, (r0, r1) -> { for (int r = r0; r < r1; r++) y[yOff + r] = row8(w, r, xp, xs); });
        }
    }

    /** Whether {@link #gemv} takes w's rows a vector of codes at a time ({@link ChunkedGemv}: 4-bit rows of 128 columns or more, grouped 8-bit rows of 64). */
    public static boolean chunked(PackedMatrix w) { return ChunkedGemv.fits(w); }

    /**
     * Y = X·Wᵀ: X [m, W.cols()] row-major from {@code x[xOff]}, Y [m, W.rows()] row-major from {@code y[yOff]}. One
     * row is {@link #gemv}; more go through the blocked product.
     */
    public static void gemm(float[] x, int xOff, int m, PackedMatrix w, float[] y, int yOff, int threads) {
        int n = w.rows(), k = w.cols();
        checkVector("X", x, xOff, (long) m * k, w);
        checkVector("Y", y, yOff, (long) m * n, w);
        if (m == 1) {
            gemv(w, x, xOff, y, yOff, threads);
            return;
        }
        Sgemm.linearRows(null, w, x, xOff, m, y, yOff, w.usableThreads(threads));
    }

    /** Per group, the lane-wise partial sums of x over the group's vectors (L floats per group). */
    static float[] groupSums(PackedMatrix w, float[] xp) {
        int groupCols = w.groupBlocks() * PackedMatrix.BLOCK;
        float[] xs = new float[w.groups() * L];
        for (int gi = 0; gi < w.groups(); gi++) {
            FloatVector s = FloatVector.zero(F);
            for (int p = gi * groupCols, end = Math.min(xp.length, p + groupCols); p < end; p += L) s = s.add(FloatVector.fromArray(F, xp, p));
            s.intoArray(xs, gi * L);
        }
        return xs;
    }

    // Row r · x, one kernel per block format: per group, Σ c·x lane-wise in two fma chains (even and odd vectors of
    // each block), then addGroup; at the end the row's one fixed-order lane sum.

    private static float row2(PackedMatrix w, int r, float[] xp, float[] xs) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        FloatVector acc = FloatVector.zero(F);
        for (int gi = 0, b = 0, nb = w.blocks(); b < nb; gi++) {
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int end = Math.min(b + w.groupBlocks(), nb); b < end; b++, at += 8) {
                long word = PackedCodes.word(s, at);
                for (int v = 0, xo = b * PackedMatrix.BLOCK; v < V; v += 2) {
                    d0 = toFloat(PackedCodes.codes2(word, v)).fma(FloatVector.fromArray(F, xp, xo + v * L), d0);
                    d1 = toFloat(PackedCodes.codes2(word, v + 1)).fma(FloatVector.fromArray(F, xp, xo + (v + 1) * L), d1);
                }
            }
            acc = addGroup(d0.add(d1), xs, gi, w.zeroCode(r, gi), w.scale(r, gi), acc);
        }
        return VectorMath.sum(acc);
    }

    private static float row3(PackedMatrix w, int r, float[] xp, float[] xs) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        FloatVector acc = FloatVector.zero(F);
        for (int gi = 0, b = 0, nb = w.blocks(); b < nb; gi++) {
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int end = Math.min(b + w.groupBlocks(), nb); b < end; b++, at += 12) {
                long low = PackedCodes.word(s, at), high = PackedCodes.thirdBits(s, at);
                for (int v = 0, xo = b * PackedMatrix.BLOCK; v < V; v += 2) {
                    d0 = toFloat(PackedCodes.codes3(low, high, v)).fma(FloatVector.fromArray(F, xp, xo + v * L), d0);
                    d1 = toFloat(PackedCodes.codes3(low, high, v + 1)).fma(FloatVector.fromArray(F, xp, xo + (v + 1) * L), d1);
                }
            }
            acc = addGroup(d0.add(d1), xs, gi, w.zeroCode(r, gi), w.scale(r, gi), acc);
        }
        return VectorMath.sum(acc);
    }

    private static float row4(PackedMatrix w, int r, float[] xp, float[] xs) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        FloatVector acc = FloatVector.zero(F);
        for (int gi = 0, b = 0, nb = w.blocks(); b < nb; gi++) {
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int end = Math.min(b + w.groupBlocks(), nb); b < end; b++, at += 16) {
                long word0 = PackedCodes.word(s, at), word1 = PackedCodes.word(s, at + 8);
                for (int v = 0, xo = b * PackedMatrix.BLOCK; v < V; v += 2) {
                    d0 = toFloat(PackedCodes.codes4(word0, word1, v)).fma(FloatVector.fromArray(F, xp, xo + v * L), d0);
                    d1 = toFloat(PackedCodes.codes4(word0, word1, v + 1)).fma(FloatVector.fromArray(F, xp, xo + (v + 1) * L), d1);
                }
            }
            acc = addGroup(d0.add(d1), xs, gi, w.zeroCode(r, gi), w.scale(r, gi), acc);
        }
        return VectorMath.sum(acc);
    }

    private static float row8(PackedMatrix w, int r, float[] xp, float[] xs) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        FloatVector acc = FloatVector.zero(F);
        for (int gi = 0, b = 0, nb = w.blocks(); b < nb; gi++) {
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int end = Math.min(b + w.groupBlocks(), nb); b < end; b++, at += 32) {
                for (int v = 0, xo = b * PackedMatrix.BLOCK; v < V; v += 2) {
                    d0 = toFloat(PackedCodes.codes8(s, at, v)).fma(FloatVector.fromArray(F, xp, xo + v * L), d0);
                    d1 = toFloat(PackedCodes.codes8(s, at, v + 1)).fma(FloatVector.fromArray(F, xp, xo + (v + 1) * L), d1);
                }
            }
            acc = addGroup(d0.add(d1), xs, gi, w.zeroCode(r, gi), w.scale(r, gi), acc);
        }
        return VectorMath.sum(acc);
    }

    /** acc + (Σ c·x − z·Σ x)·s for one group, lane-wise: xs holds the group's lane-wise Σ x. */
    private static FloatVector addGroup(FloatVector codesTimesX, float[] xs, int group, int zero, float scale, FloatVector acc) {
        FloatVector centred = FloatVector.fromArray(F, xs, group * L).fma(FloatVector.broadcast(F, -zero), codesTimesX);
        return centred.fma(FloatVector.broadcast(F, scale), acc);
    }

    static void checkVector(String what, float[] v, int off, long len, PackedMatrix w) {
        if (v == null || off < 0 || off + len > v.length)
            throw new IllegalArgumentException("packed product with " + w + ": " + what + " ("
                    + (v == null ? "null" : "length " + v.length + ", offset " + off) + ") has fewer than " + len + " elements");
    }
}
