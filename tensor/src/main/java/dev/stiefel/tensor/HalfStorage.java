package dev.stiefel.tensor;

/** Heap storage of 16-bit floats, either IEEE half ({@link DType#F16}) or bfloat16 ({@link DType#BF16}). */
public record HalfStorage(short[] bits, DType dtype) implements Storage {
    public HalfStorage {
        if (dtype != DType.F16 && dtype != DType.BF16)
            throw new IllegalArgumentException("HalfStorage holds f16 or bf16, not " + dtype.lower());
    }

    public long size() { return bits.length; }

    public float getFloat(long i) {
        short b = bits[(int) i];
        return dtype == DType.F16 ? Half.f16ToFloat(b) : Half.bf16ToFloat(b);
    }

    public void setFloat(long i, float v) {
        bits[(int) i] = dtype == DType.F16 ? Half.floatToF16(v) : Half.floatToBf16(v);
    }
}
