package dev.stiefel.tensor;

/**
 * Conversions between f32 and the two 16-bit float formats. IEEE half (f16) uses the JDK's own
 * {@link Float#float16ToFloat}/{@link Float#floatToFloat16}; bfloat16 is the top half of an f32, so widening
 * is a shift and narrowing rounds to nearest-even on the dropped 16 bits (as PyTorch and safetensors writers do).
 */
public final class Half {
    private Half() {}

    public static float f16ToFloat(short bits) { return Float.float16ToFloat(bits); }

    public static short floatToF16(float v) { return Float.floatToFloat16(v); }

    public static float bf16ToFloat(short bits) { return Float.intBitsToFloat((bits & 0xFFFF) << 16); }

    public static short floatToBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x0040); // keep it a (quiet) NaN
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);              // round half to even
        return (short) ((bits + roundingBias) >>> 16);
    }
}
