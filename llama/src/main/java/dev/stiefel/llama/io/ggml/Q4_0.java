package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q4_0, 18 bytes per 32 values: an f16 scale d, then 16 bytes whose low nibbles hold elements 0..15 and high nibbles
 * elements 16..31. x[j] = (q[j] − 8)·d.
 *
 * <p>Reference rule ({@code quantize_row_q4_0_ref}): m = the value of largest magnitude (the first such), d = m/−8,
 * id = 1/d (of the f32 d, not the stored f16), q = min(15, (int8)(x·id + 8.5)). The multiply-add is fused, as GCC
 * contracts it in llama.cpp's native builds (and as gguf-py's numpy converter agrees on its test cases).
 */
final class Q4_0 implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q4_0; }
    @Override public int levels() { return 16; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        float max = BlockFormats.signedAbsMax(x, from, 32);
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        BlockFormats.putF16(dst, at, d);
        for (int j = 0; j < 16; j++) {
            int lo = Math.min(15, BlockFormats.truncInt8(Math.fma(x[from + j], id, 8.5f)));
            int hi = Math.min(15, BlockFormats.truncInt8(Math.fma(x[from + 16 + j], id, 8.5f)));
            dst[at + 2 + j] = (byte) (lo | hi << 4);
        }
    }

    @Override public int code(byte[] b, int at, int i) { return Nibbles.get(b, at + 2, i); }
    @Override public void setCode(byte[] b, int at, int i, int c) { Nibbles.set(b, at + 2, i, c); }
    @Override public float value(byte[] b, int at, int i, int c) { return (c - 8) * BlockFormats.f16(b, at); }
}
