package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q5_0, 22 bytes per 32 values: f16 scale d, a 32-bit little-endian qh holding every element's fifth bit (bit j for
 * element j), then 16 bytes of low nibbles (as Q4_0). x[j] = (q[j] − 16)·d.
 *
 * <p>Reference rule ({@code quantize_row_q5_0_ref}): as {@link Q4_0} with d = m/−16 and q = min(31, (int8)(x·id + 16.5)).
 * llama-quantize's fallback for a Q4_K tensor whose rows are not a multiple of 256.
 */
final class Q5_0 implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q5_0; }
    @Override public int levels() { return 32; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        float max = BlockFormats.signedAbsMax(x, from, 32);
        float d = max / -16;
        float id = d != 0 ? 1.0f / d : 0.0f;
        BlockFormats.putF16(dst, at, d);
        for (int j = 0; j < 32; j++) setCode(dst, at, j, Math.min(31, BlockFormats.truncInt8(Math.fma(x[from + j], id, 16.5f))));
    }

    @Override public int code(byte[] b, int at, int i) { return Nibbles.get(b, at + 6, i) | Nibbles.high(b, at + 2, i) << 4; }

    @Override public void setCode(byte[] b, int at, int i, int c) {
        Nibbles.set(b, at + 6, i, c);
        Nibbles.setHigh(b, at + 2, i, c >> 4);
    }

    @Override public float value(byte[] b, int at, int i, int c) { return (c - 16) * BlockFormats.f16(b, at); }
}
