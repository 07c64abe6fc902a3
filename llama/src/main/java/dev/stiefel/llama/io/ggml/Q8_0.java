package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q8_0, 34 bytes per 32 values: an f16 scale d, then 32 int8 q. x[j] = d·q[j]. Codes here are q + 128.
 *
 * <p>Reference rule ({@code quantize_row_q8_0_ref}): d = max|x|/127, id = 1/d (f32), q = roundf(x·id) (halves away
 * from zero).
 */
final class Q8_0 implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q8_0; }
    @Override public int levels() { return 256; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[from + j]));
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        BlockFormats.putF16(dst, at, d);
        for (int j = 0; j < 32; j++) dst[at + 2 + j] = (byte) BlockFormats.roundHalfAway(x[from + j] * id);
    }

    @Override public int code(byte[] b, int at, int i) { return b[at + 2 + i] + 128; }
    @Override public void setCode(byte[] b, int at, int i, int c) { b[at + 2 + i] = (byte) (c - 128); }
    @Override public float value(byte[] b, int at, int i, int c) { return BlockFormats.f16(b, at) * (c - 128); }
}
