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
 * The 4-bit gemv y = W·x of {@link PackedGemv}, reading a row's codes L ints (4L bytes, 8L codes, L/4 blocks) at a
 * time. Lane l of such a load holds the 32-bit half l mod 2 of word ⌊(l mod 4)/2⌋ of block ⌊l/4⌋ (the layout of
 * {@link PackedMatrix}), so its nibble j is the code of column
 * <pre>
 *   32·⌊l/4⌋ + 16·⌊(l mod 4)/2⌋ + (l mod 2) + 2j        (within the chunk)
 * </pre>
 * Instead of moving codes to x's order, x is permuted once per call to theirs ({@link #permute}): then nibble j of all
 * L lanes meets one contiguous vector of x, and a code costs a mask, an OR and a subtraction, no shuffle and no
 * conversion: a lane shifted right by 16·h holds nibbles 4h .. 4h + 3 at bits p = 0, 4, 8, 12; the nibble at bit p,
 * masked and OR-ed under the exponent of 2^(23 − p), is the f32 2^(23 − p) + c (its mantissa bit p is worth 1), and
 * subtracting 2^(23 − p) + 8 leaves c − 8 exactly (both lie in one binade). The earlier decoding, a shift pair and an
 * int-to-float conversion, gave the same c − 8, bit for bit the same sums, and took ~20% longer on the Zen 4 guest
 * (docs/BENCHMARKS.md). The code is centred because
 * <pre>
 *   Σ_j s·(c_j − z)·x_j  =  s·(Σ_j (c_j − 8)·x_j − (z − 8)·Σ_j x_j)
 * </pre>
 * needs no correction at all for a symmetric grid (z = 8); an asymmetric one subtracts s·(z − 8)·Σx per group from the
 * row's sum, with Σx per group computed once per call. Groups of at least a chunk (g ≥ 8L) scale a group's lane-wise
 * partial sums by a broadcast scale; smaller groups (g32, and g64 on 16 lanes) load the chunk's 2 or 4 scales at once
 * and spread them over the lanes (one permute). A row's last blocks that do not fill a chunk are added block by block in
 * x's own order. Each row is one fixed sequence of operations whichever thread computes it.
 */
final class Nibbles {
    /** Blocks and columns per chunk (one load of L ints). */
    static final int CHUNK_BLOCKS = L / 4, CHUNK_COLS = CHUNK_BLOCKS * PackedMatrix.BLOCK;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** The bytes of one load of L ints. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, F.vectorShape());

    private final PackedMatrix w;
    private final float[] xp, xq, groupSums;
    private final int chunks, groupBlocks;
    /** For groups smaller than a chunk: lane l takes the scale of the chunk's group laneGroup[l] (a vpermps). */
    private final VectorShuffle<Float> spread;
    /** The scales of one chunk's 2 or 4 groups, one load. */
    private static final VectorSpecies<Float> S2 = FloatVector.SPECIES_64, S4 = FloatVector.SPECIES_128;

    /** Whether the chunked kernel takes w: 4 bits, a whole chunk per row, and one group per row or groups that tile chunks or are tiled by them. */
    static boolean fits(PackedMatrix w) {
        int gb = w.groupBlocks();
        return w.bits() == 4 && w.blocks() >= CHUNK_BLOCKS && (w.groups() == 1 || gb % CHUNK_BLOCKS == 0 || CHUNK_BLOCKS % gb == 0);
    }

    /** @param xp x padded with zeros to whole blocks */
    Nibbles(PackedMatrix w, float[] xp) {
        this.w = w;
        this.xp = xp;
        this.chunks = w.blocks() / CHUNK_BLOCKS;
        this.groupBlocks = w.groupBlocks();
        this.xq = permute(xp, chunks);
        int[] laneGroup = new int[L];
        for (int l = 0; l < L; l++) laneGroup[l] = groupBlocks >= CHUNK_BLOCKS ? 0 : (l / 4) / groupBlocks;
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

    /** x in the codes' order: chunk c, nibble j, lane l at (c·8 + j)·L + l. */
    static float[] permute(float[] xp, int chunks) {
        float[] xq = new float[chunks * CHUNK_COLS];
        for (int c = 0; c < chunks; c++)
            for (int j = 0; j < 8; j++)
                for (int l = 0; l < L; l++)
                    xq[(c * 8 + j) * L + l] = xp[c * CHUNK_COLS + 32 * (l / 4) + 16 * ((l % 4) / 2) + (l % 2) + 2 * j];
        return xq;
    }

    float row(int r) {
        return (groupBlocks >= CHUNK_BLOCKS ? wideGroups(r) : narrowGroups(r)) + tail(r) - zeroTerm(r);
    }

    // The two chunk loops keep every vector inside one method: a vector passed to or returned from a call that C2 does
    // not inline is boxed on the heap, once per call (see PackedCodes). Helpers for the eight nibbles, tried, went past
    // C2's inlining budget and made the kernel five times slower.

    /** Σ over whole chunks of s·Σ (c − 8)·x, groups of whole chunks (or one per row): one broadcast scale per group. */
    private float wideGroups(int r) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        float[] scales = w.scales();
        int sAt = r * w.groups(), perGroup = w.groups() == 1 ? chunks : groupBlocks / CHUNK_BLOCKS;
        FloatVector acc = FloatVector.zero(F);
        for (int c0 = 0; c0 < chunks; c0 += perGroup) {
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int c = c0, end = Math.min(c0 + perGroup, chunks); c < end; c++, at += 4L * L) {
                IntVector v = (IntVector) ByteVector.fromMemorySegment(B, s, at, LE).reinterpretAsInts();
                for (int h = 0, xo = c * 8 * L; h < 2; h++, xo += 4 * L) {
                    IntVector n = v.lanewise(VectorOperators.LSHR, 16 * h); // nibbles 4h .. 4h + 3 at bits 0, 4, 8, 12
                    d0 = n.and(0xF).or(EXP_0).reinterpretAsFloats().sub(CENTRE_0).fma(FloatVector.fromArray(F, xq, xo), d0);
                    d1 = n.and(0xF0).or(EXP_4).reinterpretAsFloats().sub(CENTRE_4).fma(FloatVector.fromArray(F, xq, xo + L), d1);
                    d0 = n.and(0xF00).or(EXP_8).reinterpretAsFloats().sub(CENTRE_8).fma(FloatVector.fromArray(F, xq, xo + 2 * L), d0);
                    d1 = n.and(0xF000).or(EXP_12).reinterpretAsFloats().sub(CENTRE_12).fma(FloatVector.fromArray(F, xq, xo + 3 * L), d1);
                }
            }
            acc = d0.add(d1).fma(FloatVector.broadcast(F, scales[sAt + c0 / perGroup]), acc);
        }
        return VectorMath.sum(acc);
    }

    /** The same for groups smaller than a chunk: each lane takes its group's scale, the chunk's scales loaded at once and spread over the lanes. */
    private float narrowGroups(int r) {
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes();
        float[] scales = w.scales();
        int sAt = r * w.groups(), groupsPerChunk = CHUNK_BLOCKS / groupBlocks;
        FloatVector acc = FloatVector.zero(F);
        for (int c = 0; c < chunks; c++, at += 4L * L) {
            IntVector v = (IntVector) ByteVector.fromMemorySegment(B, s, at, LE).reinterpretAsInts();
            FloatVector d0 = FloatVector.zero(F), d1 = d0;
            for (int h = 0, xo = c * 8 * L; h < 2; h++, xo += 4 * L) {
                IntVector n = v.lanewise(VectorOperators.LSHR, 16 * h);
                d0 = n.and(0xF).or(EXP_0).reinterpretAsFloats().sub(CENTRE_0).fma(FloatVector.fromArray(F, xq, xo), d0);
                d1 = n.and(0xF0).or(EXP_4).reinterpretAsFloats().sub(CENTRE_4).fma(FloatVector.fromArray(F, xq, xo + L), d1);
                d0 = n.and(0xF00).or(EXP_8).reinterpretAsFloats().sub(CENTRE_8).fma(FloatVector.fromArray(F, xq, xo + 2 * L), d0);
                d1 = n.and(0xF000).or(EXP_12).reinterpretAsFloats().sub(CENTRE_12).fma(FloatVector.fromArray(F, xq, xo + 3 * L), d1);
            }
            FloatVector laneScales = FloatVector.fromArray(groupsPerChunk == 4 ? S4 : S2, scales, sAt + c * groupsPerChunk).reinterpretShape(F, 0).reinterpretAsFloats().rearrange(spread);
            acc = d0.add(d1).fma(laneScales, acc);
        }
        return VectorMath.sum(acc);
    }

    /**
     * The row's last blocks that do not fill a chunk, in x's own order, s·Σ (c − 8)·x per group: the tail's groups
     * start at a chunk boundary, except when a group is longer than the row's chunks (per channel, or one group cut
     * short by the row's end), whose scale is the row's last.
     */
    private float tail(int r) {
        int from = chunks * CHUNK_BLOCKS, nb = w.blocks();
        if (from == nb) return 0f;
        MemorySegment s = w.codes();
        long at = (long) r * w.rowBytes() + (long) from * 16;
        float sum = 0f;
        for (int b = from; b < nb; ) {
            int gi = b / groupBlocks, end = Math.min((gi + 1) * groupBlocks, nb);
            FloatVector d = FloatVector.zero(F);
            for (; b < end; b++, at += 16) {
                long word0 = PackedCodes.word(s, at), word1 = PackedCodes.word(s, at + 8);
                for (int v = 0, xo = b * PackedMatrix.BLOCK; v < PackedCodes.V; v++)
                    d = PackedCodes.toFloat(PackedCodes.codes4(word0, word1, v).sub(8)).fma(FloatVector.fromArray(F, xp, xo + v * PackedCodes.L), d);
            }
            sum += w.scale(r, gi) * VectorMath.sum(d);
        }
        return sum;
    }

    /**
     * Σ_g s·(z − 8)·Σx over the row's groups, L groups at a time (as scalar code it cost a third of the kernel's time at
     * g32, one group per 32 products): 0 for a symmetric grid.
     */
    private float zeroTerm(int r) {
        if (w.symmetric()) return 0f;
        float[] scales = w.scales();
        byte[] zeros = w.zeros(); // 4-bit zero points: 0..15, so the signed widening is exact
        int groups = w.groups(), at = r * groups, gi = 0;
        FloatVector acc = FloatVector.zero(F);
        for (; gi + L <= groups; gi += L) {
            FloatVector z = (FloatVector) ByteVector.fromArray(PackedCodes.BS, zeros, at + gi).convertShape(VectorOperators.B2F, F, 0);
            acc = FloatVector.fromArray(F, scales, at + gi).mul(z.sub(8f)).fma(FloatVector.fromArray(F, groupSums, gi), acc);
        }
        float sum = VectorMath.sum(acc);
        for (; gi < groups; gi++) sum += scales[at + gi] * (zeros[at + gi] - 8) * groupSums[gi];
        return sum;
    }

    /** The exponent bits of 2^(23 − p) for the nibble at bit p; CENTRE_p is the float they make with c = 8 (see the class comment). */
    private static final int EXP_0 = exponentAbove(0), EXP_4 = exponentAbove(4), EXP_8 = exponentAbove(8), EXP_12 = exponentAbove(12);
    private static final float CENTRE_0 = Float.intBitsToFloat(EXP_0 | 8), CENTRE_4 = Float.intBitsToFloat(EXP_4 | 8 << 4),
            CENTRE_8 = Float.intBitsToFloat(EXP_8 | 8 << 8), CENTRE_12 = Float.intBitsToFloat(EXP_12 | 8 << 12);

    private static int exponentAbove(int p) { return (127 + 23 - p) << 23; }
}
