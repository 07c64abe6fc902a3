package dev.stiefel.llama.io;

import dev.stiefel.tensor.Half;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * ggml's two legacy 32-element block formats (ggml-common.h, ggml-quants.c):
 * <ul>
 *   <li>Q8_0, 34 bytes: an f16 scale d, then 32 int8 q; x[j] = d·q[j]. Quantizing takes d = max|x|/127 and
 *       q = roundf(x/d) (rounding half away from zero).</li>
 *   <li>Q4_0, 18 bytes: an f16 scale d, then 16 bytes whose low nibbles hold elements 0..15 and high nibbles
 *       elements 16..31, each offset by 8; x[j] = d·(nibble − 8). Quantizing takes the signed value m of largest
 *       magnitude, d = m/−8 and nibble = min(15, trunc(x·(1/d) + 8.5)), the multiply-add fused.</li>
 * </ul>
 * The quantizers follow ggml's reference ({@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}) step for
 * step in f32 arithmetic, so the bytes match what llama.cpp writes for the same floats.
 */
final class GgufQuants {
    static final int QK = 32;
    static final int Q8_0_BYTES = 2 + QK, Q4_0_BYTES = 2 + QK / 2;
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private GgufQuants() {}

    /** Dequantizes {@code blocks} Q8_0 blocks starting at byte {@code at} of {@code src} into {@code dst[from...]}. */
    static void dequantizeQ8_0(MemorySegment src, long at, int blocks, float[] dst, int from) {
        for (int b = 0; b < blocks; b++, at += Q8_0_BYTES) {
            float d = Half.f16ToFloat(src.get(F16, at));
            for (int j = 0; j < QK; j++) dst[from + b * QK + j] = d * src.get(ValueLayout.JAVA_BYTE, at + 2 + j);
        }
    }

    static void dequantizeQ4_0(MemorySegment src, long at, int blocks, float[] dst, int from) {
        for (int b = 0; b < blocks; b++, at += Q4_0_BYTES) {
            float d = Half.f16ToFloat(src.get(F16, at));
            int o = from + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) & 0xFF;
                dst[o + j] = ((q & 0x0F) - 8) * d;
                dst[o + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    /** Appends the Q8_0 blocks of {@code x[from, from + 32·blocks)} to {@code out}. */
    static void quantizeQ8_0(float[] x, int from, int blocks, ByteBuffer out) {
        out.order(ByteOrder.LITTLE_ENDIAN);
        for (int b = 0; b < blocks; b++) {
            int o = from + b * QK;
            float amax = 0;
            for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            out.putShort(Half.floatToF16(d));
            for (int j = 0; j < QK; j++) out.put((byte) roundHalfAway(x[o + j] * id));
        }
    }

    static void quantizeQ4_0(float[] x, int from, int blocks, ByteBuffer out) {
        out.order(ByteOrder.LITTLE_ENDIAN);
        for (int b = 0; b < blocks; b++) {
            int o = from + b * QK;
            float amax = 0, max = 0;
            for (int j = 0; j < QK; j++) {
                float v = x[o + j];
                if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            out.putShort(Half.floatToF16(d));
            for (int j = 0; j < QK / 2; j++) {
                // (int8_t)(x·id + 8.5f): C truncates toward zero; compiled with FMA contraction (llama.cpp's native
                // builds) x·id + 8.5 is rounded once, which gguf-py's converter reproduces too
                int lo = Math.min(15, (byte) (int) Math.fma(x[o + j], id, 8.5f));
                int hi = Math.min(15, (byte) (int) Math.fma(x[o + QK / 2 + j], id, 8.5f));
                out.put((byte) (lo | hi << 4));
            }
        }
    }

    /** C's roundf: halves round away from zero (Math.round would send −2.5 to −2). Exact in double. */
    static int roundHalfAway(float v) {
        double r = Math.floor(Math.abs((double) v) + 0.5);
        return (int) Math.copySign(r, v);
    }
}
