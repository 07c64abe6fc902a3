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
        int grain = Math.max(1, (1 << 15) / Math.max(k, 1));
        int useThreads = (long) n * k < (1L << 20) ? 1 : threads;
        Parallel.forRange(n, useThreads, grain, (from, to) -> {
            for (int i = 0; i < m; i++)
                for (int j = from; j < to; j++) {
                    long row = wOff + j * wRowStride;
                    y[yOff + i * n + j] = heap != null ? dot(a, aOff + i * k, heap, (int) row, k, bf16) : dot(a, aOff + i * k, mapped, row, k, bf16);
                }
        });
    }

    private static float dot(float[] a, int ao, short[] w, int wo, int k, boolean bf16) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int e = 0;
        for (; e + 2 * L <= k; e += 2 * L) {
            acc0 = widen(ShortVector.fromArray(S, w, wo + e), bf16).fma(FloatVector.fromArray(F, a, ao + e), acc0);
            acc1 = widen(ShortVector.fromArray(S, w, wo + e + L), bf16).fma(FloatVector.fromArray(F, a, ao + e + L), acc1);
        }
        for (; e + L <= k; e += L) acc0 = widen(ShortVector.fromArray(S, w, wo + e), bf16).fma(FloatVector.fromArray(F, a, ao + e), acc0);
        float s = VectorMath.sum(acc0.add(acc1));
        for (; e < k; e++) s += a[ao + e] * (bf16 ? Half.bf16ToFloat(w[wo + e]) : Half.f16ToFloat(w[wo + e]));
        return s;
    }

    private static float dot(float[] a, int ao, MemorySegment w, long wo, int k, boolean bf16) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        long base = wo * 2;
        int e = 0;
        for (; e + 2 * L <= k; e += 2 * L) {
            acc0 = widen(ShortVector.fromMemorySegment(S, w, base + 2L * e, LE), bf16).fma(FloatVector.fromArray(F, a, ao + e), acc0);
            acc1 = widen(ShortVector.fromMemorySegment(S, w, base + 2L * (e + L), LE), bf16).fma(FloatVector.fromArray(F, a, ao + e + L), acc1);
        }
        for (; e + L <= k; e += L)
            acc0 = widen(ShortVector.fromMemorySegment(S, w, base + 2L * e, LE), bf16).fma(FloatVector.fromArray(F, a, ao + e), acc0);
        float s = VectorMath.sum(acc0.add(acc1));
        for (; e < k; e++) {
            short bits = w.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE), base + 2L * e);
            s += a[ao + e] * (bf16 ? Half.bf16ToFloat(bits) : Half.f16ToFloat(bits));
        }
        return s;
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
