package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q5_K, 176 bytes per super-block of 256 values: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins (as Q4_K),
 * 32 bytes qh of fifth bits (value 64n + l's bit in qh[l mod 32], bit 2n for l &lt; 32, 2n + 1 above), then 128 bytes of
 * low nibbles laid out as Q4_K's. Value: (d·sc_j)·q − dmin·m_j.
 *
 * <p>Reference rule ({@code quantize_row_q5_K_ref}): as {@link Q4_K} with 31 levels and trial scales from −0.5 in
 * 15 steps.
 */
final class Q5_K implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q5_K; }
    @Override public int levels() { return 32; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        float[] scales = new float[8], mins = new float[8];
        int[] L = new int[256];
        KQuants.fitSubBlocks(x, from, 31, -0.5f, 15, scales, mins, L);
        KQuants.packScalesAndRecode(x, from, scales, mins, 31, L, dst, at);
        for (int i = 0; i < 256; i++) setCode(dst, at, i, L[i]);
    }

    private static int qs(int at, int i) { return at + 48 + (i / 64) * 32 + (i & 31); }
    private static int qh(int at, int i) { return at + 16 + (i & 31); }
    private static int bit(int i) { return 2 * (i / 64) + ((i & 32) == 0 ? 0 : 1); }

    @Override public int code(byte[] b, int at, int i) {
        int q = b[qs(at, i)] & 0xFF;
        int low = (i & 32) == 0 ? q & 0x0F : q >> 4;
        return low | ((b[qh(at, i)] >> bit(i)) & 1) << 4;
    }

    @Override public void setCode(byte[] b, int at, int i, int c) {
        int k = qs(at, i);
        b[k] = (byte) ((i & 32) == 0 ? (b[k] & 0xF0) | (c & 0x0F) : (b[k] & 0x0F) | (c & 0x0F) << 4);
        int h = qh(at, i), mask = 1 << bit(i);
        b[h] = (byte) ((c & 16) != 0 ? b[h] | mask : b[h] & ~mask);
    }

    @Override public float value(byte[] b, int at, int i, int c) {
        int j = i / 32;
        float d1 = BlockFormats.f16(b, at) * KQuants.scale(b, at + 4, j);
        float m1 = BlockFormats.f16(b, at + 2) * KQuants.min(b, at + 4, j);
        return d1 * c - m1;
    }
}
