package dev.stiefel.tensor.packed;

import static dev.stiefel.tensor.packed.PackedCodes.BS;
import static dev.stiefel.tensor.packed.PackedCodes.I;
import static dev.stiefel.tensor.packed.PackedCodes.L;
import static dev.stiefel.tensor.packed.PackedCodes.V;

import dev.stiefel.tensor.Parallel;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Y = X·Wᵀ with 8-bit activations ({@link Int8Rows}, symmetric or asymmetric per token) and a {@link PackedMatrix} W
 * of any bit width (W8A8, W4A8, ...): integer dot products. With x = s_x·(q_j − z_x) and w = s·(c − z) per group,
 * <pre>
 *   y = s_x · Σ_groups s·(Σ_j c_j·(q_j − z_x) − z·Σ_j (q_j − z_x))
 * </pre>
 * The inner sums are exact in int32 lanes (|c·(q − z_x)| ≤ 255·255 and a lane takes at most 4 products per block of
 * 32, so no lane overflows in a group of fewer than 264,000 columns) and their lane sum is taken in long lanes;
 * integer lane sums are exact, so {@code reduceLanes(ADD)} is deterministic here. Each group's integer is rounded to
 * f32 once and its scale applied by one fused multiply-add, in group order. Σ (q − z_x) per group and token is computed
 * once per call. Threads split W's rows; each row is decoded once per token from L1.
 */
public final class Int8Gemm {
    private static final long PARALLEL_MIN = 1L << 21;
    private static final int GRAIN_ELEMENTS = 1 << 15;

    private Int8Gemm() {}

    /** Y [x.rows(), W.rows()] row-major from {@code y[yOff]}. */
    public static void gemm(Int8Rows x, PackedMatrix w, float[] y, int yOff, int threads) {
        int n = w.rows(), m = x.rows(), k = w.cols();
        if (x.cols() != k) throw new IllegalArgumentException("int8 gemm: activations have " + x.cols() + " columns, " + w + " has " + k);
        PackedGemv.checkVector("Y", y, yOff, (long) m * n, w);
        if (threads < 1) throw new IllegalArgumentException("int8 gemm: threads must be >= 1, got " + threads);
        int groups = w.groups(), groupCols = w.groupBlocks() * PackedMatrix.BLOCK;
        int[] qSums = new int[m * groups];
        for (int t = 0; t < m; t++)
            for (int j = 0; j < k; j++) qSums[t * groups + j / groupCols] += x.centred(t, j);
        int th = (long) n * k * m < PARALLEL_MIN ? 1 : w.usableThreads(threads), grain = Math.max(4, GRAIN_ELEMENTS / Math.max(k, 1));
        Parallel.forRange(n, th, grain, (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int t = 0; t < m; t++) y[yOff + t * n + r] = row(w, r, x, t, qSums);
        });
    }

    /** W row r · token t. */
    static float row(PackedMatrix w, int r, Int8Rows x, int t, int[] qSums) {
        MemorySegment s = w.codes();
        int bb = w.blockBytes(), gb = w.groupBlocks(), nb = w.blocks(), bits = w.bits(), groups = w.groups();
        long rowAt = (long) r * w.rowBytes();
        byte[] q = x.q();
        int zx = x.zeros()[t];
        float acc = 0;
        for (int gi = 0, b0 = 0; b0 < nb; gi++, b0 += gb) {
            int blocks = Math.min(gb, nb - b0);
            long d = dot(bits, s, rowAt + (long) b0 * bb, bb, blocks, q, t * x.stride() + b0 * PackedMatrix.BLOCK, zx);
            long exact = d - (long) w.zeroCode(r, gi) * qSums[t * groups + gi];
            acc = Math.fma(w.scale(r, gi), (float) exact, acc);
        }
        return acc * x.scales()[t];
    }

    /**
     * Σ c·(q − z_x) over `blocks` blocks from byte `at` and 8-bit values from q[qo], exactly; one loop per block format (the
     * switch returns an int, so no vector crosses it).
     */
    private static long dot(int bits, MemorySegment s, long at, int blockBytes, int blocks, byte[] q, int qo, int zx) {
        return switch (bits) {
            case 2 -> dot2(s, at, blockBytes, blocks, q, qo, zx);
            case 3 -> dot3(s, at, blockBytes, blocks, q, qo, zx);
            case 4 -> dot4(s, at, blockBytes, blocks, q, qo, zx);
            default -> dot8(s, at, blockBytes, blocks, q, qo, zx);
        };
    }

    private static long dot2(MemorySegment s, long at, int blockBytes, int blocks, byte[] q, int qo, int zx) {
        IntVector acc = IntVector.zero(I), z = IntVector.broadcast(I, zx);
        for (int b = 0; b < blocks; b++, at += blockBytes, qo += PackedMatrix.BLOCK) {
            long word = PackedCodes.word(s, at);
            for (int v = 0; v < V; v++) acc = acc.add(PackedCodes.codes2(word, v).mul(int8(q, qo + v * L).sub(z)));
        }
        return exactSum(acc);
    }

    private static long dot3(MemorySegment s, long at, int blockBytes, int blocks, byte[] q, int qo, int zx) {
        IntVector acc = IntVector.zero(I), z = IntVector.broadcast(I, zx);
        for (int b = 0; b < blocks; b++, at += blockBytes, qo += PackedMatrix.BLOCK) {
            long low = PackedCodes.word(s, at), high = PackedCodes.thirdBits(s, at);
            for (int v = 0; v < V; v++) acc = acc.add(PackedCodes.codes3(low, high, v).mul(int8(q, qo + v * L).sub(z)));
        }
        return exactSum(acc);
    }

    private static long dot4(MemorySegment s, long at, int blockBytes, int blocks, byte[] q, int qo, int zx) {
        IntVector acc = IntVector.zero(I), z = IntVector.broadcast(I, zx);
        for (int b = 0; b < blocks; b++, at += blockBytes, qo += PackedMatrix.BLOCK) {
            long word0 = PackedCodes.word(s, at), word1 = PackedCodes.word(s, at + 8);
            for (int v = 0; v < V; v++) acc = acc.add(PackedCodes.codes4(word0, word1, v).mul(int8(q, qo + v * L).sub(z)));
        }
        return exactSum(acc);
    }

    private static long dot8(MemorySegment s, long at, int blockBytes, int blocks, byte[] q, int qo, int zx) {
        IntVector acc = IntVector.zero(I), z = IntVector.broadcast(I, zx);
        for (int b = 0; b < blocks; b++, at += blockBytes, qo += PackedMatrix.BLOCK)
            for (int v = 0; v < V; v++) acc = acc.add(PackedCodes.codes8(s, at, v).mul(int8(q, qo + v * L).sub(z)));
        return exactSum(acc);
    }

    /** Σ lanes in long lanes: the int lanes are each exact, their sum over a long group need not fit an int. */
    private static long exactSum(IntVector acc) {
        LongVector low = (LongVector) acc.convertShape(VectorOperators.I2L, PackedCodes.LS, 0);
        LongVector high = (LongVector) acc.convertShape(VectorOperators.I2L, PackedCodes.LS, 1);
        return low.add(high).reduceLanes(VectorOperators.ADD);
    }

    /** L int8 values from q[at], sign-extended to int lanes. */
    private static IntVector int8(byte[] q, int at) {
        return (IntVector) ByteVector.fromArray(BS, q, at).convertShape(VectorOperators.B2I, I, 0);
    }
}
