package dev.stiefel.tensor.packed;

import static dev.stiefel.tensor.packed.PackedCodes.F;
import static dev.stiefel.tensor.packed.PackedCodes.L;

import dev.stiefel.tensor.cpu.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The 4-bit and 8-bit gemv y = W·x of {@link PackedGemv}, reading a row's codes L ints (4L bytes: 8L nibbles or 4L
 * bytes, a chunk of L/4 or L/8 blocks) at a time. In the layout of {@link PackedMatrix}, code j of lane l of such a
 * load belongs to column
 * <pre>
 *   4 bits:  32·⌊l/4⌋ + 16·⌊(l mod 4)/2⌋ + (l mod 2) + 2j     (j = 0..7: lane l is the 32-bit half l mod 2 of word ⌊(l mod 4)/2⌋ of block ⌊l/4⌋)
 *   8 bits:  4l + j                                          (j = 0..3)
 * </pre>
 * of the chunk. Instead of moving codes to x's order, x is permuted once per call to theirs ({@link #permute}): then
 * code j of all L lanes meets one contiguous vector of x, and a code costs a mask, an OR and a subtraction, no shuffle
 * and no conversion. A lane shifted right by 16·h holds its codes at bits p = 0, 4, 8, 12 (nibbles 4h .. 4h + 3) or
 * p = 0, 8 (bytes 2h, 2h + 1); the code c at bit p, masked and OR-ed under the exponent of 2^(23 − p), is the f32
 * 2^(23 − p) + c (its mantissa bit p is worth 1), and subtracting 2^(23 − p) + m, m = 2^(b−1) the grid's middle code,
 * leaves c − m exactly (both lie in one binade). The earlier 4-bit decoding, a shift pair and an int-to-float
 * conversion, gave the same c − 8, bit for bit the same sums, and took ~20% longer on the Zen 4 guest
 * (docs/BENCHMARKS.md). The code is centred because
 * <pre>
 *   Σ_j s·(c_j − z)·x_j  =  s·(Σ_j (c_j − m)·x_j − (z − m)·Σ_j x_j)
 * </pre>
 * needs no correction at all for a symmetric grid (z = m) and sums small centred products, not codes up to 2^b − 1 whose
 * sum z·Σx would then cancel; an asymmetric grid subtracts s·(z − m)·Σx per group from the row's sum, with Σx per group
 * computed once per call. Groups of at least a chunk are scaled by a broadcast scale (4 bits: a group's lane-wise partial
 * sums at once; 8 bits: each chunk's, see {@link #wideBytes}); smaller
 * groups (4 bits: g32, and g64 on 16 lanes; 8 bits: g32 on 16 lanes) load the chunk's 2 or 4 scales at once and spread
 * them over the lanes (one permute). A row's last blocks that do not fill a chunk are added block by block in x's own
 * order. Each row is one fixed sequence of operations whichever thread computes it.
 */
final class ChunkedGemv {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** The bytes of one load of L ints. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, F.vectorShape());
    /** The scales of one chunk's 2 or 4 groups, one load. */
    private static final VectorSpecies<Float> S2 = FloatVector.SPECIES_64, S4 = FloatVector.SPECIES_128;

    private final PackedMatrix w;
    private final float[] xp, xq, groupSums;
    /** Blocks per chunk, codes per lane of a load, whole chunks per row, blocks per group; the grid's middle code. */
    private final int chunkBlocks, codesPerLane, chunks, groupBlocks, middle;
    /** For groups smaller than a chunk: lane l takes the scale of the chunk's group laneGroup[l] (a vpermps). */
    private final VectorShuffle<Float> spread;

    /** Blocks in one load of L ints of b-bit codes (a block is 4·b bytes). */
    static int chunkBlocks(int bits) { return L / bits; }

    /**
     * Whether the chunked kernel takes w: 4 bits, or 8 bits in groups (per channel, {@code PackedGemv}'s block loop
     * streamed a TinyLlama-shaped model 7% faster from memory; in groups this kernel was 1.4-1.7× faster); a whole chunk
     * per row; and one group per row or groups that tile chunks or are tiled by them.
     */
    static boolean fits(PackedMatrix w) {
        if (w.bits() != 4 && !(w.bits() == 8 && w.groups() > 1)) return false;
        int gb = w.groupBlocks(), cb = chunkBlocks(w.bits());
        return cb >= 1 && w.blocks() >= cb && (w.groups() == 1 || gb % cb == 0 || cb % gb == 0);
    }

    /** @param xp x padded with zeros to whole blocks */
    ChunkedGemv(PackedMatrix w, float[] xp) {
        this.w = w;
        this.xp = xp;
        this.chunkBlocks = chunkBlocks(w.bits());
        this.codesPerLane = 32 / w.bits();
        this.middle = 1 << (w.bits() - 1);
        this.chunks = w.blocks() / chunkBlocks;
        this.groupBlocks = w.groupBlocks();
        this.xq = permute(xp, chunks, w.bits());
        int[] laneGroup = new int[L];
        for (int l = 0; l < L; l++) laneGroup[l] = groupBlocks >= chunkBlocks ? 0 : (l * chunkBlocks / L) / groupBlocks;
        this.spread = VectorShuffle.fromArray(F, laneGroup, 0);
        // Σx per group, for the zero-point term of an asymmetric grid only
        this.groupSums = new float[w.symmetric() ? 0 : w.groups()];
        int groupCols = groupBlocks * PackedMatrix.BLOCK;
        for (int gi = 0; gi < groupSums.length; gi++) {
            float sum = 0;
            for (int j = gi * groupCols, end = Math.min(xp.length, j + groupCols); j < end; j++) sum += xp[j];
            groupSums[gi] = sum;
        }
    }

    /** x in the codes' order: chunk c, code j, lane l at (c·J + j)·L + l, J codes per lane (the columns of the class comment). */
    static float[] permute(float[] xp, int chunks, int bits) {
        int perLane = 32 / bits, chunkCols = chunkBlocks(bits) * PackedMatrix.BLOCK;
        float[] xq = new float[chunks * chunkCols];
        for (int c = 0; c < chunks; c++)
            for (int j = 0; j < perLane; j++)
                for (int l = 0; l < L; l++) {
                    int col = bits == 4 ? 32 * (l / 4) + 16 * ((l % 4) / 2) + (l % 2) + 2 * j : 4 * l + j;
                    xq[(c * perLane + j) * L + l] = xp[c * chunkCols + col];
                }
        return xq;
    }

    float row(int r) {
        boolean wide = groupBlocks >= chunkBlocks;
        float chunked = w.bits() == 4 ? (wide ? wideNibbles(r) : narrowNibbles(r)) : (wide ? wideBytes(r) : narrowBytes(r));
        return chunked + tail(r) - zeroTerm(r);
    }

    // Each chunk loop keeps every vector inside one method: a vector passed to or returned from a call that C2 does not
    // inline is boxed on the heap, once per call (see PackedCodes). Helpers for the codes of a load, tried, went past
    // C2's inlining budget and made the kernel five times slower. The wide and narrow loops of a width differ only in
    // how a chunk is scaled, and stay apart: one 8-bit loop choosing its scale vector per chunk gave the same bits but
    // took 47 ms a token on 154 TinyLlama-shaped g32 matrices from memory against 44 (2026-12-05, Zen 4 guest).

    /** 4 bits: Σ over whole chunks of s·Σ (c − 8)·x, groups of whole chunks (or one per row): one broadcast scale per group. */
    private float wideNibbles(int r) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        float[] scales = w.scales();
        int sAt = r * w.groups(), perGroup = w.groups() == 1 ? chunks : groupBlocks / chunkBlocks;
        FloatVector acc = FloatVector.zero(F);
        for (int c0 = 0; c0 < chunks; c0 += perGroup) {
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int c = c0, end = Math.min(c0 + perGroup, chunks); c < end; c++, at += 4L * L) {
                IntVector v = (IntVector) ByteVector.fromMemorySegment(B, s, at, LE).reinterpretAsInts();
                for (int h = 0, xo = c * 8 * L; h < 2; h++, xo += 4 * L) {
                    IntVector n = v.lanewise(VectorOperators.LSHR, 16 * h); // nibbles 4h .. 4h + 3 at bits 0, 4, 8, 12
                    d0 = n.and(0xF).or(EXP_0).reinterpretAsFloats().sub(NIBBLE_0).fma(FloatVector.fromArray(F, xq, xo), d0);
                    d1 = n.and(0xF0).or(EXP_4).reinterpretAsFloats().sub(NIBBLE_4).fma(FloatVector.fromArray(F, xq, xo + L), d1);
                    d0 = n.and(0xF00).or(EXP_8).reinterpretAsFloats().sub(NIBBLE_8).fma(FloatVector.fromArray(F, xq, xo + 2 * L), d0);
                    d1 = n.and(0xF000).or(EXP_12).reinterpretAsFloats().sub(NIBBLE_12).fma(FloatVector.fromArray(F, xq, xo + 3 * L), d1);
                }
            }
            acc = d0.add(d1).fma(FloatVector.broadcast(F, scales[sAt + c0 / perGroup]), acc);
        }
        return VectorMath.sum(acc);
    }

    /** 4 bits, groups smaller than a chunk: each lane takes its group's scale, the chunk's scales loaded at once and spread over the lanes. */
    private float narrowNibbles(int r) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        float[] scales = w.scales();
        int sAt = r * w.groups(), groupsPerChunk = chunkBlocks / groupBlocks;
        FloatVector acc = FloatVector.zero(F);
        for (int c = 0; c < chunks; c++, at += 4L * L) {
            IntVector v = (IntVector) ByteVector.fromMemorySegment(B, s, at, LE).reinterpretAsInts();
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int h = 0, xo = c * 8 * L; h < 2; h++, xo += 4 * L) {
                IntVector n = v.lanewise(VectorOperators.LSHR, 16 * h);
                d0 = n.and(0xF).or(EXP_0).reinterpretAsFloats().sub(NIBBLE_0).fma(FloatVector.fromArray(F, xq, xo), d0);
                d1 = n.and(0xF0).or(EXP_4).reinterpretAsFloats().sub(NIBBLE_4).fma(FloatVector.fromArray(F, xq, xo + L), d1);
                d0 = n.and(0xF00).or(EXP_8).reinterpretAsFloats().sub(NIBBLE_8).fma(FloatVector.fromArray(F, xq, xo + 2 * L), d0);
                d1 = n.and(0xF000).or(EXP_12).reinterpretAsFloats().sub(NIBBLE_12).fma(FloatVector.fromArray(F, xq, xo + 3 * L), d1);
            }
            FloatVector laneScales = FloatVector.fromArray(groupsPerChunk == 4 ? S4 : S2, scales, sAt + c * groupsPerChunk).reinterpretShape(F, 0).reinterpretAsFloats().rearrange(spread);
            acc = d0.add(d1).fma(laneScales, acc);
        }
        return VectorMath.sum(acc);
    }

    /**
     * 8 bits: Σ over whole chunks of s·Σ (c − 128)·x, groups of whole chunks (or one per row). Each chunk's partial sums
     * are scaled and added on their own, as in {@link #narrowBytes}: summing a whole group first, as the 4-bit loop
     * does, streamed a model's 8-bit matrices from memory 40% slower (in cache it was no slower).
     */
    private float wideBytes(int r) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        float[] scales = w.scales();
        int sAt = r * w.groups(), perGroup = w.groups() == 1 ? chunks : groupBlocks / chunkBlocks;
        FloatVector acc = FloatVector.zero(F);
        for (int c = 0; c < chunks; c++, at += 4L * L) {
            IntVector v = (IntVector) ByteVector.fromMemorySegment(B, s, at, LE).reinterpretAsInts();
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int h = 0, xo = c * 4 * L; h < 2; h++, xo += 2 * L) {
                IntVector n = v.lanewise(VectorOperators.LSHR, 16 * h);
                d0 = n.and(0xFF).or(EXP_0).reinterpretAsFloats().sub(BYTE_0).fma(FloatVector.fromArray(F, xq, xo), d0);
                d1 = n.and(0xFF00).or(EXP_8).reinterpretAsFloats().sub(BYTE_8).fma(FloatVector.fromArray(F, xq, xo + L), d1);
            }
            acc = d0.add(d1).fma(FloatVector.broadcast(F, scales[sAt + c / perGroup]), acc);
        }
        return VectorMath.sum(acc);
    }

    /** 8 bits, groups smaller than a chunk (g32 on 16 lanes: two groups per load). */
    private float narrowBytes(int r) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        float[] scales = w.scales();
        int sAt = r * w.groups(), groupsPerChunk = chunkBlocks / groupBlocks;
        FloatVector acc = FloatVector.zero(F);
        for (int c = 0; c < chunks; c++, at += 4L * L) {
            IntVector v = (IntVector) ByteVector.fromMemorySegment(B, s, at, LE).reinterpretAsInts();
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int h = 0, xo = c * 4 * L; h < 2; h++, xo += 2 * L) {
                IntVector n = v.lanewise(VectorOperators.LSHR, 16 * h);
                d0 = n.and(0xFF).or(EXP_0).reinterpretAsFloats().sub(BYTE_0).fma(FloatVector.fromArray(F, xq, xo), d0);
                d1 = n.and(0xFF00).or(EXP_8).reinterpretAsFloats().sub(BYTE_8).fma(FloatVector.fromArray(F, xq, xo + L), d1);
            }
            FloatVector laneScales = FloatVector.fromArray(groupsPerChunk == 4 ? S4 : S2, scales, sAt + c * groupsPerChunk).reinterpretShape(F, 0).reinterpretAsFloats().rearrange(spread);
            acc = d0.add(d1).fma(laneScales, acc);
        }
        return VectorMath.sum(acc);
    }

    /**
     * The row's last blocks that do not fill a chunk, in x's own order, s·Σ (c − m)·x per group: the tail's groups
     * start at a chunk boundary, except when a group is longer than the row's chunks (per channel, or one group cut
     * short by the row's end), whose scale is the row's last.
     */
    private float tail(int r) {
        int from = chunks * chunkBlocks, nb = w.blocks();
        if (from == nb) return 0f;
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes() + (long) from * w.blockBytes();
        boolean four = w.bits() == 4;
        float sum = 0f;
        for (int b = from; b < nb; ) {
            int gi = b / groupBlocks, end = Math.min((gi + 1) * groupBlocks, nb);
            FloatVector d = FloatVector.zero(F);
            if (four) // two loops, not one with a vector chosen per format (which C2 would box)
                for (; b < end; b++, at += 16) {
                    long word0 = PackedCodes.word(s, at), word1 = PackedCodes.word(s, at + 8);
                    for (int v = 0, xo = b * PackedMatrix.BLOCK; v < PackedCodes.V; v++)
                        d = PackedCodes.toFloat(PackedCodes.codes4(word0, word1, v).sub(8)).fma(FloatVector.fromArray(F, xp, xo + v * PackedCodes.L), d);
                }
            else
                for (; b < end; b++, at += 32)
                    for (int v = 0, xo = b * PackedMatrix.BLOCK; v < PackedCodes.V; v++)
                        d = PackedCodes.toFloat(PackedCodes.codes8(s, at, v).sub(128)).fma(FloatVector.fromArray(F, xp, xo + v * PackedCodes.L), d);
            sum += w.scale(r, gi) * VectorMath.sum(d);
        }
        return sum;
    }

    /**
     * Σ_g s·(z − m)·Σx over the row's groups, L groups at a time (as scalar code it cost a third of the kernel's time at
     * g32, one group per 32 products): 0 for a symmetric grid.
     */
    private float zeroTerm(int r) {
        if (w.symmetric()) return 0f;
        float[] scales = w.scales();
        byte[] zeros = w.zeros(); // unsigned: up to 255 for 8 bits
        int groups = w.groups(), at = r * groups, gi = 0;
        FloatVector acc = FloatVector.zero(F);
        for (; gi + L <= groups; gi += L) {
            IntVector z = (IntVector) ByteVector.fromArray(PackedCodes.BS, zeros, at + gi).convertShape(VectorOperators.ZERO_EXTEND_B2I, PackedCodes.I, 0);
            acc = FloatVector.fromArray(F, scales, at + gi).mul(PackedCodes.toFloat(z.sub(middle))).fma(FloatVector.fromArray(F, groupSums, gi), acc);
        }
        float sum = VectorMath.sum(acc);
        for (; gi < groups; gi++) sum += scales[at + gi] * ((zeros[at + gi] & 0xFF) - middle) * groupSums[gi];
        return sum;
    }

    /**
     * The exponent bits of 2^(23 − p) for a code at bit p; NIBBLE_p and BYTE_p are the floats they make with the middle
     * code (8, 128) at bit p (see the class comment).
     */
    private static final int EXP_0 = exponentAbove(0), EXP_4 = exponentAbove(4), EXP_8 = exponentAbove(8), EXP_12 = exponentAbove(12);
    private static final float NIBBLE_0 = Float.intBitsToFloat(EXP_0 | 8), NIBBLE_4 = Float.intBitsToFloat(EXP_4 | 8 << 4),
            NIBBLE_8 = Float.intBitsToFloat(EXP_8 | 8 << 8), NIBBLE_12 = Float.intBitsToFloat(EXP_12 | 8 << 12),
            BYTE_0 = Float.intBitsToFloat(EXP_0 | 128), BYTE_8 = Float.intBitsToFloat(EXP_8 | 128 << 8);

    private static int exponentAbove(int p) { return (127 + 23 - p) << 23; }
}
