package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * {@code y[i, j] = Σₖ a[i, k]·W[j, k]} for a few f32 rows {@code a} against a 16-bit weight {@code W [n, k]} whose
 * rows are contiguous (bf16 or f16, on the heap or memory-mapped): the decode step of a linear layer stored in half
 * precision. Widening the whole weight to f32 first would move five bytes per element instead of two; here each
 * vector of 16-bit values is widened in registers right after it is loaded.
 *
 * <p>bf16 is the top half of an f32, so widening is a shift. f16 is rebuilt from its fields: exponent and mantissa
 * shifted into f32 position and multiplied by 2¹¹² (which re-biases the exponent and turns f16 subnormals into
 * f32 normals exactly), with exponent 31 (inf/NaN) mapped to f32's 255.
 */
final class HalfGemv {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float F16_REBIAS = 0x1p112f;
    private static final java.lang.foreign.ValueLayout.OfShort SHORT_LE = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Most rows of {@code a} this kernel takes: each row re-reads W, which only pays while the rows are few. */
    static final int MAX_ROWS = 4;

    private HalfGemv() {}

    /**
     * @param a      row-major f32 rows, row i at {@code a[aOff + i·k]}
     * @param heap   W's 16-bit values on the heap, or null when {@code mapped} holds them
     * @param mapped W's little-endian 16-bit values in a segment, or null
     * @param wOff   element offset of W[0, 0]; row j starts at {@code wOff + j·wRowStride}
     */
    static void run(float[] a, int aOff, int m, int k, short[] heap, MemorySegment mapped, long wOff, long wRowStride,
                    DType dtype, int n, float[] y, int yOff, int threads) {
        boolean bf16 = dtype == DType.BF16;
        MemorySegment w = heap != null ? MemorySegment.ofArray(heap) : mapped;
        int grain = Math.max(4, (1 << 15) / Math.max(k, 1));
        int useThreads = (long) n * k < (1L << 20) ? 1 : threads;
        Parallel.forRange(n, useThreads, grain, (from, to) -> {
            int j = from;
            for (; j + 4 <= to; j += 4) {
                long row = 2 * (wOff + j * wRowStride), rs = 2 * wRowStride;
                for (int i = 0; i < m; i++) dot4(a, aOff + i * k, w, row, rs, k, bf16, y, yOff + i * n + j);
            }
            for (; j < to; j++)
                for (int i = 0; i < m; i++) y[yOff + i * n + j] = dot(a, aOff + i * k, w, 2 * (wOff + j * wRowStride), k, bf16);
        });
    }

    /**
     * One W row (from byte {@code wo}) · one activation row: two accumulators over alternate vectors, a leftover
     * vector into the first, their fixed-order lane sum, then the scalar tail.
     */
    private static float dot(float[] a, int ao, MemorySegment w, long wo, int k, boolean bf16) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int e = 0;
        for (; e + 2 * L <= k; e += 2 * L) {
            acc0 = load(w, wo + 2L * e, bf16).fma(FloatVector.fromArray(F, a, ao + e), acc0);
            acc1 = load(w, wo + 2L * (e + L), bf16).fma(FloatVector.fromArray(F, a, ao + e + L), acc1);
        }
        for (; e + L <= k; e += L) acc0 = load(w, wo + 2L * e, bf16).fma(FloatVector.fromArray(F, a, ao + e), acc0);
        float s = VectorMath.sum(acc0.add(acc1));
        for (; e < k; e++) s += a[ao + e] * scalar(w, wo + 2L * e, bf16);
        return s;
    }

    /**
     * Four W rows (from byte {@code w0}, {@code rs} bytes apart) · one activation row into y[yi..yi+4]: each row summed
     * in exactly the order of {@link #dot} (so a row's value does not depend on whether it falls in a group of four),
     * eight accumulators in flight, and each activation vector loaded once for the four rows. A row used to be
     * summed alone, with two accumulators: too few loads in flight to reach the f32 kernel's bandwidth.
     */
    private static void dot4(float[] a, int ao, MemorySegment w, long w0, long rs, int k, boolean bf16, float[] y, int yi) {
        long w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
        FloatVector z = FloatVector.zero(F);
        FloatVector p0 = z, q0 = z, p1 = z, q1 = z, p2 = z, q2 = z, p3 = z, q3 = z;
        int e = 0;
        for (; e + 2 * L <= k; e += 2 * L) {
            FloatVector x0 = FloatVector.fromArray(F, a, ao + e), x1 = FloatVector.fromArray(F, a, ao + e + L);
            long b0 = 2L * e, b1 = 2L * (e + L);
            p0 = load(w, w0 + b0, bf16).fma(x0, p0); q0 = load(w, w0 + b1, bf16).fma(x1, q0);
            p1 = load(w, w1 + b0, bf16).fma(x0, p1); q1 = load(w, w1 + b1, bf16).fma(x1, q1);
            p2 = load(w, w2 + b0, bf16).fma(x0, p2); q2 = load(w, w2 + b1, bf16).fma(x1, q2);
            p3 = load(w, w3 + b0, bf16).fma(x0, p3); q3 = load(w, w3 + b1, bf16).fma(x1, q3);
        }
        for (; e + L <= k; e += L) {
            FloatVector x0 = FloatVector.fromArray(F, a, ao + e);
            long b0 = 2L * e;
            p0 = load(w, w0 + b0, bf16).fma(x0, p0); p1 = load(w, w1 + b0, bf16).fma(x0, p1);
            p2 = load(w, w2 + b0, bf16).fma(x0, p2); p3 = load(w, w3 + b0, bf16).fma(x0, p3);
        }
        float s0 = VectorMath.sum(p0.add(q0)), s1 = VectorMath.sum(p1.add(q1)), s2 = VectorMath.sum(p2.add(q2)), s3 = VectorMath.sum(p3.add(q3));
        for (; e < k; e++) {
            float x = a[ao + e];
            long b = 2L * e;
            s0 += x * scalar(w, w0 + b, bf16); s1 += x * scalar(w, w1 + b, bf16);
            s2 += x * scalar(w, w2 + b, bf16); s3 += x * scalar(w, w3 + b, bf16);
        }
        y[yi] = s0; y[yi + 1] = s1; y[yi + 2] = s2; y[yi + 3] = s3;
    }

    private static FloatVector load(MemorySegment w, long byteOff, boolean bf16) {
        return widen(ShortVector.fromMemorySegment(S, w, byteOff, LE), bf16);
    }

    private static float scalar(MemorySegment w, long byteOff, boolean bf16) {
        short bits = w.get(SHORT_LE, byteOff);
        return bf16 ? Half.bf16ToFloat(bits) : Half.f16ToFloat(bits);
    }

    /**
     * W [rows, cols] in 16 bits as a {@link RowSource}: a row segment widened a vector at a time, for the prefill
     * product ({@link Sgemm#gemm(RowSource, StridedMatrix, float[], int, int, int)}), which then never holds more of W
     * in f32 than one packed A block.
     */
    record Rows(MemorySegment w, long wOff, long rowStride, int rows, int cols, boolean bf16) implements RowSource {
        @Override public void row(int row, int col0, int len, float[] dst, int dstOff) {
            long at = 2 * (wOff + row * rowStride + col0);
            int e = 0;
            for (; e + L <= len; e += L) load(w, at + 2L * e, bf16).intoArray(dst, dstOff + e);
            for (; e < len; e++) dst[dstOff + e] = scalar(w, at + 2L * e, bf16);
        }
    }

    /** Sixteen-bit lanes to f32 lanes, in registers. */
    static FloatVector widen(ShortVector v, boolean bf16) {
        IntVector bits = (IntVector) v.convertShape(VectorOperators.S2I, I, 0);
        if (bf16) return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        IntVector sign = bits.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector magnitude = bits.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
        FloatVector finite = magnitude.reinterpretAsFloats().mul(F16_REBIAS);
        // exponent 31: inf or NaN, keep the mantissa bits under an all-ones f32 exponent
        var special = bits.and(0x7c00).compare(VectorOperators.EQ, 0x7c00);
        IntVector result = finite.reinterpretAsInts().blend(magnitude.or(0x7f800000), special);
        return result.or(sign).reinterpretAsFloats();
    }
}
