package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

import java.util.ArrayList;
import java.util.List;

/** The block formats this package implements, by {@link GgmlType}, and the small pieces they share. */
public final class BlockFormats {
    private BlockFormats() {}

    private static final List<BlockFormat> ALL = List.of(new Q4_0(), new Q4_1(), new Q5_0(), new Q5_1(), new Q8_0(),
            new Q4_K(), new Q5_K(), new Q6_K());

    /** The format of {@code t}, or null when this package does not implement it (F32/F16/BF16 are not block formats). */
    public static BlockFormat of(GgmlType t) {
        for (BlockFormat f : ALL) if (f.type() == t) return f;
        return null;
    }

    /** The block formats implemented here. */
    public static List<GgmlType> types() {
        List<GgmlType> out = new ArrayList<>();
        for (BlockFormat f : ALL) out.add(f.type());
        return out;
    }

    // ------------------------------------------------------------ shared pieces

    /** The little-endian f16 at b[at] as f32 (ggml's GGML_FP16_TO_FP32, exact). */
    static float f16(byte[] b, int at) { return Float.float16ToFloat((short) ((b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8)); }

    /** Stores f32 v as an f16 rounded to nearest even (ggml's GGML_FP32_TO_FP16, F16C or the portable code alike). */
    static void putF16(byte[] b, int at, float v) {
        short h = Float.floatToFloat16(v);
        b[at] = (byte) h;
        b[at + 1] = (byte) (h >> 8);
    }

    /** ggml's nearest_int: adding 1.5·2^23 rounds to the nearest integer, ties to even (valid for |v| < 2^22). */
    static int nearestInt(float v) { return (int) Math.rint(v); }

    /** The value of largest magnitude among x[from, from + n) (the first such), as Q4_0/Q5_0's rule picks it; 0 for zeros. */
    static float signedAbsMax(float[] x, int from, int n) {
        float amax = 0, max = 0;
        for (int j = 0; j < n; j++) {
            float v = x[from + j];
            if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
        }
        return max;
    }

    /** {min, max} of x[from, from + n), as Q4_1/Q5_1's rule finds them. */
    static float[] minMax(float[] x, int from, int n) {
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (int j = 0; j < n; j++) {
            float v = x[from + j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return new float[]{min, max};
    }

    /** C's roundf: halves round away from zero (exact in double). */
    static int roundHalfAway(float v) { return (int) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v); }

    /**
     * C's {@code (int8_t) f} for the legacy formats' {@code x·id + offset}: truncation toward zero to an int, then
     * the low 8 bits, as x86 compilers do (the out-of-range case is undefined in C; GCC's code keeps the low byte).
     */
    static int truncInt8(float v) { return (byte) (int) v; }
}
