package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q5_1, 24 bytes per 32 values: f16 scale d, f16 minimum m, 32-bit qh of fifth bits, 16 bytes of low nibbles.
 * x[j] = q[j]·d + m.
 *
 * <p>Reference rule ({@code quantize_row_q5_1_ref}): as {@link Q4_1} with d = (max − min)/31 and
 * q = (uint8)((x − min)·id + 0.5) (no clamp in ggml). llama-quantize's fallback for Q5_K.
 */
final class Q5_1 implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q5_1; }
    @Override public int levels() { return 32; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        float[] mm = BlockFormats.minMax(x, from, 32);
        float min = mm[0], max = mm[1];
        float d = (max - min) / 31;
        float id = d != 0 ? 1.0f / d : 0.0f;
        BlockFormats.putF16(dst, at, d);
        BlockFormats.putF16(dst, at + 2, min);
        for (int j = 0; j < 32; j++) setCode(dst, at, j, (int) Math.fma(x[from + j] - min, id, 0.5f) & 0xFF);
    }

    @Override public int code(byte[] b, int at, int i) { return Nibbles.get(b, at + 8, i) | Nibbles.high(b, at + 4, i) << 4; }

    @Override public void setCode(byte[] b, int at, int i, int c) {
        Nibbles.set(b, at + 8, i, c);
        Nibbles.setHigh(b, at + 4, i, c >> 4);
    }

    @Override public float value(byte[] b, int at, int i, int c) { return c * BlockFormats.f16(b, at) + BlockFormats.f16(b, at + 2); }
}
