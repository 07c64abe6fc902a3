package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q4_1, 20 bytes per 32 values: f16 scale d, f16 minimum m, then 16 bytes of nibbles (as Q4_0). x[j] = q[j]·d + m.
 *
 * <p>Reference rule ({@code quantize_row_q4_1_ref}): min and max of the block, d = (max − min)/15, id = 1/d (f32),
 * q = min(15, (int8)((x − min)·id + 0.5)) with the multiply-add fused as in {@link Q4_0}.
 */
final class Q4_1 implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q4_1; }
    @Override public int levels() { return 16; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        float[] mm = BlockFormats.minMax(x, from, 32);
        float min = mm[0], max = mm[1];
        float d = (max - min) / 15;
        float id = d != 0 ? 1.0f / d : 0.0f;
        BlockFormats.putF16(dst, at, d);
        BlockFormats.putF16(dst, at + 2, min);
        for (int j = 0; j < 16; j++) {
            int lo = Math.min(15, BlockFormats.truncInt8(Math.fma(x[from + j] - min, id, 0.5f)));
            int hi = Math.min(15, BlockFormats.truncInt8(Math.fma(x[from + 16 + j] - min, id, 0.5f)));
            dst[at + 4 + j] = (byte) (lo | hi << 4);
        }
    }

    @Override public int code(byte[] b, int at, int i) { return Nibbles.get(b, at + 4, i); }
    @Override public void setCode(byte[] b, int at, int i, int c) { Nibbles.set(b, at + 4, i, c); }
    @Override public float value(byte[] b, int at, int i, int c) { return c * BlockFormats.f16(b, at) + BlockFormats.f16(b, at + 2); }
}
