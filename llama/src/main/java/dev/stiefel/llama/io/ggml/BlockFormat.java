package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * One of ggml's block formats (ggml-common.h, ggml-quants.c): {@link #blockSize()} consecutive values of a row are
 * stored in {@link #blockBytes()} bytes as a block header (f16 scales, packed sub-block scales) and one integer code
 * per value. Every format here answers four questions about a block held in a byte array:
 * <ul>
 *   <li>{@link #quantize}: the block ggml's reference quantizer ({@code quantize_row_*_ref}) writes for the values,
 *       byte for byte;</li>
 *   <li>{@link #code} / {@link #setCode}: the code of element i, read from or written into the packed bits;</li>
 *   <li>{@link #value}: what element i dequantizes to with a given code, computed in f32 with the operations of
 *       ggml's {@code dequantize_row_*} in their order (no fused multiply-add), so {@link #dequantize} is ggml's;</li>
 *   <li>{@link #nearest}: the code whose value lies nearest a given x under the block's header, which is how a method
 *       (GPTQ, AWQ, ...) chooses its own codes on a grid whose header was fixed by the format's rule.</li>
 * </ul>
 * Codes are the unsigned integers stored in the bits (0..levels−1); a format's value subtracts its own offset.
 */
public interface BlockFormat {

    GgmlType type();

    default int blockSize() { return type().blockSize(); }

    default int blockBytes() { return type().typeSize(); }

    /** Number of codes: 2^bits. */
    int levels();

    /** ggml's reference quantization of x[from, from + blockSize) into dst[at, at + blockBytes); dst is overwritten. */
    void quantize(float[] x, int from, byte[] dst, int at);

    /** The code of element i of the block at {@code at}. */
    int code(byte[] block, int at, int i);

    /** Stores code c (0..levels−1) for element i; the header and the other elements stay as they are. */
    void setCode(byte[] block, int at, int i, int c);

    /** Element i's value with code c under the block's header, as ggml's dequantizer computes it. */
    float value(byte[] block, int at, int i, int c);

    /** ggml's dequantization of one block into y[from, from + blockSize). */
    default void dequantize(byte[] block, int at, float[] y, int from) {
        for (int i = 0, n = blockSize(); i < n; i++) y[from + i] = value(block, at, i, code(block, at, i));
    }

    /**
     * The code whose value is nearest x (ties: the smaller code). Every format's value is monotone in the code with a
     * constant step, so the step's rounding gives a candidate and its two neighbours settle the f32 rounding of the
     * exact values; a block whose step is 0 (an all-zero sub-block) keeps the code it has.
     */
    default int nearest(byte[] block, int at, int i, float x) {
        float v0 = value(block, at, i, 0), step = value(block, at, i, 1) - v0;
        if (step == 0 || !Float.isFinite(step)) return code(block, at, i);
        int last = levels() - 1;
        int guess = (int) Math.max(0, Math.min(last, Math.rint((x - (double) v0) / step)));
        int best = guess;
        double bestErr = Math.abs((double) x - value(block, at, i, guess));
        for (int c = Math.max(0, guess - 1); c <= Math.min(last, guess + 1); c++) {
            double err = Math.abs((double) x - value(block, at, i, c));
            if (err < bestErr || (err == bestErr && c < best)) { best = c; bestErr = err; }
        }
        return best;
    }

    /** Quantizes a whole row (its length a multiple of the block size) with {@link #quantize}; returns the bytes. */
    default byte[] quantizeRow(float[] x, int from, int n) {
        int bs = blockSize(), bb = blockBytes();
        if (n % bs != 0) throw new IllegalArgumentException(type() + ": a row of " + n + " values is not a whole number of " + bs + "-value blocks");
        byte[] out = new byte[n / bs * bb];
        for (int b = 0; b < n / bs; b++) quantize(x, from + b * bs, out, b * bb);
        return out;
    }

    /** Dequantizes {@code blocks} consecutive blocks of {@code src} starting at byte {@code at} into y[from...]. */
    default void dequantize(byte[] src, int at, int blocks, float[] y, int from) {
        int bs = blockSize(), bb = blockBytes();
        for (int b = 0; b < blocks; b++) dequantize(src, at + b * bb, y, from + b * bs);
    }
}
