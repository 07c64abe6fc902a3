package dev.stiefel.llama.io.ggml;

/**
 * The legacy formats' 4-bit packing of 32 values in 16 bytes: element j < 16 is the low nibble of byte j, element
 * j ≥ 16 the high nibble of byte j − 16 (ggml-quants.c, {@code quantize_row_q4_0_ref}).
 */
final class Nibbles {
    private Nibbles() {}

    static int get(byte[] b, int qs, int i) {
        return i < 16 ? b[qs + i] & 0x0F : (b[qs + i - 16] >> 4) & 0x0F;
    }

    static void set(byte[] b, int qs, int i, int c) {
        if (i < 16) b[qs + i] = (byte) ((b[qs + i] & 0xF0) | (c & 0x0F));
        else b[qs + i - 16] = (byte) ((b[qs + i - 16] & 0x0F) | (c & 0x0F) << 4);
    }

    /** The fifth bit of element i in Q5_0/Q5_1's 32-bit little-endian qh at b[qh]. */
    static int high(byte[] b, int qh, int i) { return (b[qh + i / 8] >> (i % 8)) & 1; }

    static void setHigh(byte[] b, int qh, int i, int bit) {
        int mask = 1 << (i % 8);
        b[qh + i / 8] = (byte) (bit != 0 ? b[qh + i / 8] | mask : b[qh + i / 8] & ~mask);
    }
}
