package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

/**
 * Q6_K, 210 bytes per super-block of 256 values: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), sixteen int8
 * sub-block scales, f16 d. In each half of 128 values, value 32k + l (k = 0..3, l = 0..31) has its low bits in
 * ql[l + 32·(k mod 2)] (low nibble for k &lt; 2, high for k ≥ 2), its high bits at bit 2k of qh[l], and scale
 * 8·half + l/16 + 2k. Value: (d·sc)·(q − 32).
 *
 * <p>Reference rule ({@code quantize_row_q6_K_ref}): each sub-block of 16 fitted by {@code make_qx_quants}
 * ({@link KQuants#qx}, 32 levels each side, weights x²), the scales to int8 against the one of largest magnitude
 * (iscale = −128/max, d = f16(1/iscale), sc = min(127, nearest_int(iscale·scale))), the codes recomputed on the stored
 * grid (nearest_int(x/(d·sc)) in −32..31); an all-zero super-block is all zero bytes.
 */
final class Q6_K implements BlockFormat {
    @Override public GgmlType type() { return GgmlType.Q6_K; }
    @Override public int levels() { return 64; }

    @Override public void quantize(float[] x, int from, byte[] dst, int at) {
        int[] L = new int[256];
        float[] scales = new float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float scale = KQuants.qx(16, 32, x, from + 16 * ib, L, 16 * ib);
            scales[ib] = scale;
            if (Math.abs(scale) > maxAbsScale) {
                maxAbsScale = Math.abs(scale);
                maxScale = scale;
            }
        }
        java.util.Arrays.fill(dst, at, at + 210, (byte) 0);
        if (maxAbsScale < KQuants.GROUP_MAX_EPS) return;
        float iscale = -128.f / maxScale;
        BlockFormats.putF16(dst, at + 208, 1 / iscale);
        for (int ib = 0; ib < 16; ib++) dst[at + 192 + ib] = (byte) Math.min(127, BlockFormats.nearestInt(iscale * scales[ib]));
        float d0 = BlockFormats.f16(dst, at + 208);
        for (int j = 0; j < 16; j++) {
            float d = d0 * dst[at + 192 + j];
            if (d == 0) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = Math.max(-32, Math.min(31, BlockFormats.nearestInt(x[from + 16 * j + ii] / d))) + 32;
        }
        for (int i = 0; i < 256; i++) setCode(dst, at, i, L[i]);
    }

    private static int ql(int at, int i) { return at + (i / 128) * 64 + (i & 31) + ((i / 32) & 1) * 32; }
    private static int qh(int at, int i) { return at + 128 + (i / 128) * 32 + (i & 31); }
    private static int quarter(int i) { return (i / 32) & 3; }

    @Override public int code(byte[] b, int at, int i) {
        int q = b[ql(at, i)] & 0xFF;
        int low = quarter(i) < 2 ? q & 0x0F : q >> 4;
        return low | ((b[qh(at, i)] >> (2 * quarter(i))) & 3) << 4;
    }

    @Override public void setCode(byte[] b, int at, int i, int c) {
        int k = ql(at, i);
        b[k] = (byte) (quarter(i) < 2 ? (b[k] & 0xF0) | (c & 0x0F) : (b[k] & 0x0F) | (c & 0x0F) << 4);
        int h = qh(at, i), shift = 2 * quarter(i);
        b[h] = (byte) ((b[h] & ~(3 << shift)) | ((c >> 4) & 3) << shift);
    }

    @Override public float value(byte[] b, int at, int i, int c) {
        int sc = b[at + 192 + (i / 128) * 8 + (i & 31) / 16 + 2 * quarter(i)];
        return BlockFormats.f16(b, at + 208) * sc * (c - 32);
    }
}
