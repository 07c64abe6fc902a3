package dev.stiefel.tensor.packed;

import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.cpu.RowSource;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A weight matrix W [rows, cols] (rows = output channels, cols = the input dimension) stored as b-bit integer codes
 * (b = 2, 3, 4 or 8) with an f32 scale, and for an asymmetric grid a zero point, per row and group of columns.
 *
 * <p><b>Values.</b> The quantization rule of {@code quant.Quantizer}: level q = clamp(round(w/s) + z, qmin, qmax)
 * (round half to even); symmetric grids have q ∈ [−2^(b−1), 2^(b−1) − 1] and z = 0, asymmetric ones q ∈ [0, 2^b − 1]
 * and an integer z ∈ [0, 2^b − 1]. What is stored is the unsigned code c = q − qmin ∈ [0, 2^b − 1] and the zero
 * point in code units z_c = z − qmin (2^(b−1) for every symmetric group, so it is not stored; z for asymmetric ones,
 * one byte per group). An element's value is {@code (c − z_c)·s} in f32: c − z_c = q − z exactly, so this is the
 * fake quantizer's {@code (q − z)·s} bit for bit.
 *
 * <p><b>Groups.</b> Each row is cut into groups of {@code groupSize} consecutive columns (a multiple of 32; the last
 * group of a row may be shorter) or, with groupSize 0, one group per row (per-channel). Scales: {@code float[rows ×
 * groups]}, row-major; zero points: {@code byte[rows × groups]}, unsigned, asymmetric grids only.
 *
 * <p><b>Codes.</b> A row is ⌈cols/32⌉ blocks of 32 consecutive columns (the last block padded with code 0; rows never
 * share a block), a block is 4·b bytes, and the bits inside a block are placed so that a vector of 8 or 16 codes comes
 * out of one 64-bit load, a broadcast, one shift by a constant per-lane vector and a mask: the 64-bit word
 * broadcast over int lanes reads low half, high half, low, high, ... so even elements sit in the low half and odd
 * elements in the high half. Element e of a block (all words little-endian):
 * <pre>
 *   b = 8   byte e                                                       (32 bytes)
 *   b = 4   64-bit word ⌊e/16⌋, bit 32·(e mod 2) + 4·⌊(e mod 16)/2⌋      (16 bytes)
 *   b = 2   64-bit word 0,     bit 32·(e mod 2) + 2·⌊e/2⌋                (8 bytes)
 *   b = 3   the low two bits as b = 2 in bytes 0..7, the third bit as bit e of the 32-bit word at byte 8   (12 bytes)
 * </pre>
 * The codes live in a {@link MemorySegment} (a heap array, or a region of a memory-mapped model file), row r at byte
 * {@code r · rowBytes()}.
 */
public final class PackedMatrix implements RowSource {
    /** Columns per block of codes. */
    public static final int BLOCK = 32;
    static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** A thread that never runs: a segment it may not access is confined to its owner, which pool threads are not. */
    private static final Thread STRANGER = Thread.ofPlatform().unstarted(() -> {});

    private final int rows, cols, bits, groupSize, groups, blocks, groupBlocks, blockBytes, rowBytes;
    private final boolean symmetric;
    private final MemorySegment codes;
    private final float[] scales;
    private final byte[] zeros;

    private PackedMatrix(int rows, int cols, int bits, int groupSize, boolean symmetric, MemorySegment codes, float[] scales, byte[] zeros) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("packed matrix: negative size " + rows + "x" + cols);
        checkGrid(bits, groupSize);
        this.rows = rows;
        this.cols = cols;
        this.bits = bits;
        this.groupSize = groupSize;
        this.symmetric = symmetric;
        this.blocks = (cols + BLOCK - 1) / BLOCK;
        this.groupBlocks = groupSize == 0 ? Math.max(blocks, 1) : groupSize / BLOCK;
        this.groups = cols == 0 ? 0 : (blocks + groupBlocks - 1) / groupBlocks;
        this.blockBytes = 4 * bits;
        this.rowBytes = blocks * blockBytes;
        long need = (long) rows * rowBytes;
        if (codes.byteSize() < need)
            throw new IllegalArgumentException("packed matrix " + rows + "x" + cols + " int" + bits + ": " + codes.byteSize()
                    + " bytes of codes, expected " + need + " (" + blocks + " blocks of " + blockBytes + " bytes per row)");
        if (scales.length != rows * groups)
            throw new IllegalArgumentException("packed matrix " + rows + "x" + cols + " int" + bits + " g" + groupSize + ": "
                    + scales.length + " scales, expected " + rows * groups + " (" + groups + " per row)");
        for (int i = 0; i < scales.length; i++)
            if (!Float.isFinite(scales[i]))
                throw new IllegalArgumentException("packed matrix: scale " + scales[i] + " of row " + i / groups + ", group " + i % groups + " is not finite");
        if (symmetric != (zeros == null))
            throw new IllegalArgumentException("packed matrix: " + (symmetric ? "a symmetric grid has no zero points" : "an asymmetric grid needs zero points"));
        if (zeros != null) {
            if (zeros.length != rows * groups)
                throw new IllegalArgumentException("packed matrix: " + zeros.length + " zero points, expected " + rows * groups);
            for (int i = 0; i < zeros.length; i++)
                if ((zeros[i] & 0xFF) > maxCode())
                    throw new IllegalArgumentException("packed matrix: zero point " + (zeros[i] & 0xFF) + " of row " + i / groups
                            + ", group " + i % groups + " is outside [0, " + maxCode() + "]");
        }
        this.codes = codes;
        this.scales = scales;
        this.zeros = zeros;
    }

    /**
     * Wraps stored codes, scales and zero points (a model file's tensors): {@code codes} in the layout above,
     * {@code zeros} null for a symmetric grid.
     */
    public static PackedMatrix of(MemorySegment codes, int rows, int cols, int bits, int groupSize, boolean symmetric, float[] scales, byte[] zeros) {
        return new PackedMatrix(rows, cols, bits, groupSize, symmetric, codes, scales, zeros);
    }

    /**
     * Quantizes the row-major {@code w} with the given scales and zero points ({@code rows × groups} each, zero points
     * as quant's integer-valued floats, all 0 for a symmetric grid): q = clamp(round(w/s) + z, qmin, qmax), the
     * computation of {@code quant.Quantizer.level}.
     */
    public static PackedMatrix quantize(float[] w, int rows, int cols, int bits, int groupSize, boolean symmetric, float[] scales, float[] zeros) {
        checkGrid(bits, groupSize);
        if (w.length != (long) rows * cols) throw new IllegalArgumentException("packed matrix: " + w.length + " values for " + rows + "x" + cols);
        int qmin = qmin(bits, symmetric), qmax = qmax(bits, symmetric);
        int g = groupSize == 0 ? Math.max(cols, 1) : groupSize, groups = cols == 0 ? 0 : (cols + g - 1) / g;
        // codes straight into the packed bytes: no int per element (a 7B model's down_proj is 45M of them)
        return pack(rows, cols, bits, groupSize, symmetric, scales, zeros, (r, j) -> {
            int k = r * groups + j / g;
            float q = (float) Math.rint(w[r * cols + j] / scales[k]) + zeros[k];
            return (int) Math.min(Math.max(q, qmin), qmax) - qmin;
        });
    }

    /**
     * Packs codes c = q − qmin already on the grid ({@code codes[r·cols + j]} ∈ [0, 2^bits − 1]; GPTQ finds them
     * column by column) with their scales and zero points (as in {@link #quantize}).
     */
    public static PackedMatrix ofCodes(int[] codes, int rows, int cols, int bits, int groupSize, boolean symmetric, float[] scales, float[] zeros) {
        checkGrid(bits, groupSize);
        if (codes.length != (long) rows * cols) throw new IllegalArgumentException("packed matrix: " + codes.length + " codes for " + rows + "x" + cols);
        return pack(rows, cols, bits, groupSize, symmetric, scales, zeros, (r, j) -> codes[r * cols + j]);
    }

    private static PackedMatrix pack(int rows, int cols, int bits, int groupSize, boolean symmetric, float[] scales, float[] zeros,
                                     java.util.function.IntBinaryOperator codeAt) {
        byte[] z = null;
        if (!symmetric) {
            z = new byte[zeros.length];
            for (int i = 0; i < z.length; i++) {
                float v = zeros[i];
                if (v != Math.rint(v) || v < 0 || v > (1 << bits) - 1)
                    throw new IllegalArgumentException("packed matrix: zero point " + v + " at " + i + " is not an integer in [0, " + ((1 << bits) - 1) + "]");
                z[i] = (byte) (int) v;
            }
        } else {
            for (int i = 0; i < zeros.length; i++)
                if (zeros[i] != 0) throw new IllegalArgumentException("packed matrix: zero point " + zeros[i] + " at " + i + " on a symmetric grid");
        }
        int blocks = (cols + BLOCK - 1) / BLOCK, rowBytes = blocks * 4 * bits, max = (1 << bits) - 1;
        byte[] packed = new byte[Math.multiplyExact(rows, rowBytes)];
        // rows in parallel: each writes its own bytes (a 7B matrix holds 45 million codes)
        Parallel.forRange(rows, Math.max(1, (1 << 16) / Math.max(1, cols)), (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int j = 0; j < cols; j++) {
                    int c = codeAt.applyAsInt(r, j);
                    if (c < 0 || c > max)
                        throw new IllegalArgumentException("packed matrix: code " + c + " at (" + r + ", " + j + ") is outside [0, " + max + "]");
                    put(packed, (long) r * rowBytes + (long) (j / BLOCK) * 4 * bits, bits, j % BLOCK, c);
                }
        });
        return new PackedMatrix(rows, cols, bits, groupSize, symmetric, MemorySegment.ofArray(packed), scales.clone(), z);
    }

    private static void checkGrid(int bits, int groupSize) {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
            throw new IllegalArgumentException("packed matrix: " + bits + " bits; packed codes are 2, 3, 4 or 8 bits");
        if (groupSize < 0 || groupSize % BLOCK != 0)
            throw new IllegalArgumentException("packed matrix: group size " + groupSize + " is not a multiple of " + BLOCK + " (or 0 for one group per row)");
    }

    /** Writes code c of element e into the block at {@code block} (the layout in the class comment). */
    private static void put(byte[] a, long block, int bits, int e, int c) {
        switch (bits) {
            case 8 -> a[(int) block + e] = (byte) c;
            case 4 -> setBits(a, block, 64 * (e / 16) + 32 * (e % 2) + 4 * ((e % 16) / 2), c);
            case 2 -> setBits(a, block, 32 * (e % 2) + 2 * (e / 2), c);
            case 3 -> {
                setBits(a, block, 32 * (e % 2) + 2 * (e / 2), c & 3);
                setBits(a, block, 64 + e, c >>> 2);
            }
            default -> throw new IllegalStateException();
        }
    }

    /** ORs {@code v} in at bit {@code bit} of the block (a field never crosses a byte). */
    private static void setBits(byte[] a, long block, int bit, int v) {
        int i = (int) (block + bit / 8);
        a[i] = (byte) (a[i] | v << (bit % 8));
    }

    private static int bitsAt(MemorySegment s, long block, int bit, int width) {
        return (s.get(ValueLayout.JAVA_BYTE, block + bit / 8) & 0xFF) >>> (bit % 8) & ((1 << width) - 1);
    }

    static int qmin(int bits, boolean symmetric) { return symmetric ? -(1 << (bits - 1)) : 0; }

    static int qmax(int bits, boolean symmetric) { return symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }

    // ------------------------------------------------------------ reading

    /** The code c ∈ [0, 2^bits − 1] of element (r, j), read one element at a time (the reference for the vector decoders). */
    public int code(int r, int j) {
        long block = (long) r * rowBytes + (long) (j / BLOCK) * blockBytes;
        int e = j % BLOCK;
        return switch (bits) {
            case 8 -> codes.get(ValueLayout.JAVA_BYTE, block + e) & 0xFF;
            case 4 -> bitsAt(codes, block, 64 * (e / 16) + 32 * (e % 2) + 4 * ((e % 16) / 2), 4);
            case 2 -> bitsAt(codes, block, 32 * (e % 2) + 2 * (e / 2), 2);
            case 3 -> bitsAt(codes, block, 32 * (e % 2) + 2 * (e / 2), 2) | bitsAt(codes, block, 64 + e, 1) << 2;
            default -> throw new IllegalStateException();
        };
    }

    /** The zero point in code units of group {@code group} of row r: 2^(bits−1) on a symmetric grid, else the stored byte. */
    public int zeroCode(int r, int group) { return symmetric ? 1 << (bits - 1) : zeros[r * groups + group] & 0xFF; }

    public float scale(int r, int group) { return scales[r * groups + group]; }

    /** Element (r, j) as f32: (c − z_c)·s. */
    public float value(int r, int j) {
        int gi = j / (groupBlocks * BLOCK);
        return (code(r, j) - zeroCode(r, gi)) * scale(r, gi);
    }

    /** Every element as f32, row-major: the fake-quantized matrix. */
    public float[] dequantize() {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) row(r, 0, cols, out, r * cols);
        return out;
    }

    /** Row r, columns [col0, col0 + len), decoded a vector at a time ({@link RowSource}, for Sgemm's A panels). */
    @Override public void row(int r, int col0, int len, float[] dst, int dstOff) {
        if (r < 0 || r >= rows || col0 < 0 || len < 0 || col0 + len > cols)
            throw new IllegalArgumentException("packed matrix " + rows + "x" + cols + ": no row " + r + ", columns [" + col0 + ", " + (col0 + len) + ")");
        PackedCodes.dequantizeRow(this, r, col0, len, dst, dstOff);
    }

    @Override public int rows() { return rows; }

    @Override public int cols() { return cols; }

    public int bits() { return bits; }

    /** Columns per group; 0 for one group per row. */
    public int groupSize() { return groupSize; }

    public int groups() { return groups; }

    public boolean symmetric() { return symmetric; }

    /** Blocks of 32 columns per row. */
    public int blocks() { return blocks; }

    /** Blocks per group (the last group of a row may have fewer). */
    public int groupBlocks() { return groupBlocks; }

    public int blockBytes() { return blockBytes; }

    /** Bytes of codes per row. */
    public int rowBytes() { return rowBytes; }

    /** The codes (not a copy: read-only use). */
    public MemorySegment codes() { return codes; }

    /** The scales, rows × groups (not a copy). */
    public float[] scales() { return scales; }

    /** The unsigned zero points, rows × groups, or null on a symmetric grid (not a copy). */
    public byte[] zeros() { return zeros; }

    /** {@code threads}, or 1 when the codes are in a segment confined to its owner thread (pool threads could not read it). */
    public int usableThreads(int threads) { return codes.isAccessibleBy(STRANGER) ? threads : 1; }

    /** Bytes a kernel reads: codes, f32 scales and one byte per zero point. */
    public long bytes() { return (long) rows * rowBytes + 4L * scales.length + (zeros == null ? 0 : zeros.length); }

    int maxCode() { return (1 << bits) - 1; }

    @Override public String toString() {
        return "PackedMatrix[" + rows + "x" + cols + ", int" + bits + (symmetric ? " sym" : " asym")
                + (groupSize == 0 ? " per-channel" : " g" + groupSize) + ", " + bytes() + " bytes]";
    }
}
