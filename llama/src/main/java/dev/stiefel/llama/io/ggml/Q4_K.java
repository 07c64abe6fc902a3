package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q4_K, 144 bytes per super-block of 256 values: f16 d, f16 dmin, 12 bytes of eight 6-bit sub-block scales sc and
 * mins m ({@link KQuants#scale}), then 128 bytes of nibbles: each 64 values share 32 bytes, the first 32 values in
 * the low nibbles, the next 32 in the high ones. Value i of sub-block j = i/32: (d·sc_j)·q − dmin·m_j.
 *
 * <p>Reference rule ({@code quantize_row_q4_K_ref}): each sub-block of 32 fitted by {@code make_qkx2_quants}
 * (15 levels, weights √(mean x²) + |x|, trial scales from −1 in 20 steps of 0.1), scales and mins quantized to
 * 6 bits against their maxima, codes recomputed on the stored grid ({@link KQuants#packScalesAndRecode}).
 */
final class Q4_K implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q4_K; }
    @Override public int levels() { return 16; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        float[] scales = new float[8], mins = new float[8];
        int[] L = new int[256];
        KQuants.fitSubBlocks(x, from, 15, -1f, 20, scales, mins, L);
        KQuants.packScalesAndRecode(x, from, scales, mins, 15, L, dst, at);
        for (int i = 0; i < 256; i++) setCode(dst, at, i, L[i]);
    }

    private static int qs(int at, int i) { return at + 16 + (i / 64) * 32 + (i & 31); }

    @Override public int code(byte[] b, int at, int i) {
        int q = b[qs(at, i)] & 0xFF;
        return (i & 32) == 0 ? q & 0x0F : q >> 4;
    }

    @Override public void setCode(byte[] b, int at, int i, int c) {
        int k = qs(at, i);
        b[k] = (byte) ((i & 32) == 0 ? (b[k] & 0xF0) | (c & 0x0F) : (b[k] & 0x0F) | (c & 0x0F) << 4);
    }

    @Override public float value(byte[] b, int at, int i, int c) {
        int j = i / 32;
        float d1 = BlockFormats.f16(b, at) * KQuants.scale(b, at + 4, j);
        float m1 = BlockFormats.f16(b, at + 2) * KQuants.min(b, at + 4, j);
        return d1 * c - m1;
    }
}
