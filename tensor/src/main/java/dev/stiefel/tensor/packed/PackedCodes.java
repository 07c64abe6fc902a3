package dev.stiefel.tensor.packed;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector decoders of {@link PackedMatrix}'s blocks, one function per block format (a kernel calls the one of its
 * format directly: a vector that comes out of a switch over formats is a merge of several objects, which C2 does not
 * keep in registers but allocates, per call, on the heap): {@code codesB(..., v)} is the int vector of the codes of
 * elements v·L .. v·L + L − 1 of one block, from the block's words ({@link #word}, {@link #thirdBits}) or, for 8 bits,
 * its bytes.
 *
 * <p>The lane count L is 16 (AVX-512) or 8 (any narrower machine, where the 256-bit species is emulated if it must
 * be): the layout puts every vector's codes in one 64-bit word, which a vector of up to 16 lanes can take.
 */
final class PackedCodes {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.length() >= 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Long> LS = VectorSpecies.of(long.class, F.vectorShape());
    static final int L = F.length();
    static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * L));
    /** Vectors per block. */
    static final int V = PackedMatrix.BLOCK / L;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * Per-lane shifts, V vectors of L lanes each: lane l of vector v is element e = v·L + l. The broadcast 64-bit word
     * puts its low half in even lanes and its high half in odd lanes, so lane l reads half l mod 2, at the bit the
     * layout gives element e inside that half.
     */
    private static final int[] SHIFT2 = shifts(e -> 2 * (e / 2)), SHIFT4 = shifts(e -> 4 * ((e % 16) / 2)), SHIFT1 = shifts(e -> e);

    private static int[] shifts(java.util.function.IntUnaryOperator at) {
        int[] s = new int[PackedMatrix.BLOCK];
        for (int e = 0; e < s.length; e++) s[e] = at.applyAsInt(e);
        return s;
    }

    private PackedCodes() {}

    // The decoders take the block's words already loaded (the caller loads each once per block, not once per
    // vector: the memory-segment reads are the largest part of a kernel's compiled code, and a kernel that grows
    // past C2's inlining budget leaves its vector operations as calls into their allocating Java fallbacks).

    /** 2 bits: the block's one 64-bit word. */
    static IntVector codes2(long word, int v) {
        return LongVector.broadcast(LS, word).reinterpretAsInts().lanewise(VectorOperators.LSHR, IntVector.fromArray(I, SHIFT2, v * L)).and(3);
    }

    /** 3 bits: the low two bits' 64-bit word, and the third bits' 32-bit word repeated in both halves of {@code high}. */
    static IntVector codes3(long low, long high, int v) {
        IntVector third = LongVector.broadcast(LS, high).reinterpretAsInts().lanewise(VectorOperators.LSHR, IntVector.fromArray(I, SHIFT1, v * L));
        return codes2(low, v).or(third.and(1).lanewise(VectorOperators.LSHL, 2));
    }

    /** 3 bits: the 32-bit word of third bits at byte 8 of the block, in both halves of a long (a broadcast of it fills every int lane). */
    static long thirdBits(MemorySegment s, long block) {
        long high = s.get(PackedMatrix.INT_LE, block + 8) & 0xFFFFFFFFL;
        return high << 32 | high;
    }

    /** 4 bits: the block's two 64-bit words (elements 0-15, 16-31). */
    static IntVector codes4(long word0, long word1, int v) {
        return LongVector.broadcast(LS, v * L < 16 ? word0 : word1).reinterpretAsInts()
                .lanewise(VectorOperators.LSHR, IntVector.fromArray(I, SHIFT4, v * L)).and(15);
    }

    /** 8 bits: bytes v·L .. v·L + L − 1 of the block. */
    static IntVector codes8(MemorySegment s, long block, int v) {
        return (IntVector) ByteVector.fromMemorySegment(BS, s, block + (long) v * L, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
    }

    static long word(MemorySegment s, long at) { return s.get(PackedMatrix.LONG_LE, at); }

    static FloatVector toFloat(IntVector c) { return (FloatVector) c.convertShape(VectorOperators.I2F, F, 0); }

    /**
     * Row r, columns [col0, col0 + len) of w as f32 into dst: (c − z_c)·s per element, c − z_c exact in f32 and one
     * rounded product, the fake quantizer's value. Whole blocks are written a vector at a time; a block cut by the
     * range is decoded into a scratch block first.
     */
    static void dequantizeRow(PackedMatrix w, int r, int col0, int len, float[] dst, int dstOff) {
        if (len == 0) return;
        MemorySegment s = w.codes();
        int bits = w.bits(), groupCols = w.groupBlocks() * PackedMatrix.BLOCK;
        long rowAt = (long) r * w.rowBytes();
        float[] scratch = null; // for a block cut by the range: at most two per call
        int end = col0 + len;
        for (int b = col0 / PackedMatrix.BLOCK; b * PackedMatrix.BLOCK < end; b++) {
            int c0 = b * PackedMatrix.BLOCK, gi = c0 / groupCols;
            float scale = w.scale(r, gi), zero = w.zeroCode(r, gi);
            long at = rowAt + (long) b * w.blockBytes();
            boolean whole = c0 >= col0 && c0 + PackedMatrix.BLOCK <= end;
            if (!whole && scratch == null) scratch = new float[PackedMatrix.BLOCK];
            float[] out = whole ? dst : scratch;
            int o = whole ? dstOff + c0 - col0 : 0;
            switch (bits) { // one method per format: a vector chosen by a switch would be boxed
                case 2 -> dequantize2(s, at, zero, scale, out, o);
                case 3 -> dequantize3(s, at, zero, scale, out, o);
                case 4 -> dequantize4(s, at, zero, scale, out, o);
                default -> dequantize8(s, at, zero, scale, out, o);
            }
            if (!whole) {
                int from = Math.max(c0, col0), to = Math.min(c0 + PackedMatrix.BLOCK, end);
                System.arraycopy(scratch, from - c0, dst, dstOff + from - col0, to - from);
            }
        }
    }

    private static void dequantize2(MemorySegment s, long at, float zero, float scale, float[] out, int o) {
        long w = word(s, at);
        for (int v = 0; v < V; v++) toFloat(codes2(w, v)).sub(zero).mul(scale).intoArray(out, o + v * L);
    }

    private static void dequantize3(MemorySegment s, long at, float zero, float scale, float[] out, int o) {
        long low = word(s, at), high = thirdBits(s, at);
        for (int v = 0; v < V; v++) toFloat(codes3(low, high, v)).sub(zero).mul(scale).intoArray(out, o + v * L);
    }

    private static void dequantize4(MemorySegment s, long at, float zero, float scale, float[] out, int o) {
        long w0 = word(s, at), w1 = word(s, at + 8);
        for (int v = 0; v < V; v++) toFloat(codes4(w0, w1, v)).sub(zero).mul(scale).intoArray(out, o + v * L);
    }

    private static void dequantize8(MemorySegment s, long at, float zero, float scale, float[] out, int o) {
        for (int v = 0; v < V; v++) toFloat(codes8(s, at, v)).sub(zero).mul(scale).intoArray(out, o + v * L);
    }
}
