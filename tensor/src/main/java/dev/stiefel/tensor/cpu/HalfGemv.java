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
 * vector of 16-bit values is widened in registers right after it is loaded: a load of L 32-bit lanes holds 2L values,
 * the even columns in the low halves and the odd ones in the high halves ({@link #low}, {@link #high}), which meet x's
 * even and odd columns, split once per call. W is read one row at a time, a single stream: four rows at once, with x
 * loaded once for the four, streamed at 25-27 GB/s from memory on the Zen 4 guest against 30-33 for one row
 * (docs/BENCHMARKS.md).
 *
 * <p>bf16 is the top half of an f32, so widening is a shift. f16 is rebuilt from its fields: exponent and mantissa
 * shifted into f32 position and multiplied by 2¹¹² (which re-biases the exponent and turns f16 subnormals into
 * f32 normals exactly), with exponent 31 (inf/NaN) mapped to f32's 255.
 */
final class HalfGemv {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** 2L 16-bit values, one full-width vector. */
    private static final VectorSpecies<Short> S2 = VectorSpecies.of(short.class, F.vectorShape());
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
        int kv = k / (2 * L) * (2 * L), half = kv / 2;
        // each activation row split into its even and odd columns, the low and high halves of W's 32-bit lanes
        float[] even = new float[m * half], odd = new float[m * half];
        for (int i = 0; i < m; i++)
            for (int e = 0; e < half; e++) {
                even[i * half + e] = a[aOff + i * k + 2 * e];
                odd[i * half + e] = a[aOff + i * k + 2 * e + 1];
            }
        int grain = Math.max(4, (1 << 15) / Math.max(k, 1));
        int useThreads = (long) n * k < (1L << 18) ? 1 : threads; // as Sgemv
        Parallel.forRange(n, useThreads, grain, (from, to) -> {
            for (int j = from; j < to; j++)
                for (int i = 0; i < m; i++) y[yOff + i * n + j] = dot(even, odd, i * half, a, aOff + i * k, w, 2 * (wOff + j * wRowStride), k, kv, bf16);
        });
    }

    /**
     * One W row (from byte {@code wo}) · one activation row: 2L columns a load, the load's even and odd columns into
     * two accumulators against the row's even and odd x (from {@code xo}), their fixed-order lane sum, then the scalar
     * tail from column kv on (the activation row itself from {@code ao}).
     */
    private static float dot(float[] even, float[] odd, int xo, float[] a, int ao, MemorySegment w, long wo, int k, int kv, boolean bf16) {
        FloatVector p = FloatVector.zero(F), q = FloatVector.zero(F);
        for (int e = 0; e < kv; e += 2 * L) {
            IntVector pair = pairs(w, wo + 2L * e);
            p = low(pair, bf16).fma(FloatVector.fromArray(F, even, xo + e / 2), p);
            q = high(pair, bf16).fma(FloatVector.fromArray(F, odd, xo + e / 2), q);
        }
        float s = VectorMath.sum(p.add(q));
        for (int e = kv; e < k; e++) s += a[ao + e] * scalar(w, wo + 2L * e, bf16);
        return s;
    }

    /**
     * 2L 16-bit values from byte {@code at} as L 32-bit lanes. Loaded as shorts: an int load from a segment over a
     * short[] made the decode product seven times slower (HalfBench).
     */
    private static IntVector pairs(MemorySegment w, long at) {
        return (IntVector) ShortVector.fromMemorySegment(S2, w, at, LE).reinterpretAsInts();
    }

    /**
     * The low 16-bit halves of a load of 32-bit lanes (W's even columns) as f32. For bf16 a half is the top of an f32,
     * so the low half costs a shift and the high half (below) only a mask, where widening each 16-bit lane into its own
     * 32-bit lane first would cost a conversion as well.
     */
    static FloatVector low(IntVector pair, boolean bf16) {
        return bf16 ? pair.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats() : fromF16(pair);
    }

    /** The high 16-bit halves (W's odd columns) as f32. */
    static FloatVector high(IntVector pair, boolean bf16) {
        return bf16 ? pair.and(0xFFFF0000).reinterpretAsFloats() : fromF16(pair.lanewise(VectorOperators.LSHR, 16));
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
        return bf16 ? bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats() : fromF16(bits);
    }

    /** The f16 in the low 16 bits of each lane (the high bits are ignored) as f32. */
    private static FloatVector fromF16(IntVector bits) {
        IntVector sign = bits.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector magnitude = bits.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
        FloatVector finite = magnitude.reinterpretAsFloats().mul(F16_REBIAS);
        // exponent 31: inf or NaN, keep the mantissa bits under an all-ones f32 exponent
        var special = bits.and(0x7c00).compare(VectorOperators.EQ, 0x7c00);
        IntVector result = finite.reinterpretAsInts().blend(magnitude.or(0x7f800000), special);
        return result.or(sign).reinterpretAsFloats();
    }
}
