package dev.stiefel.llama.io;

import dev.stiefel.tensor.DType;

/**
 * The element types a safetensors header may name (the byte-sized ones of the format's specification). Only
 * F32, F16 and BF16 become tensors here; the others can be read and written as raw bytes (a quantized model's
 * packed integers, for instance).
 */
public enum SafetensorsDType {
    BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), I16(2), U16(2), F16(2), BF16(2), I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);

    private final int bytes;

    SafetensorsDType(int bytes) { this.bytes = bytes; }

    public int bytes() { return bytes; }

    /** The tensor module's dtype for this one, or null when it has none. */
    public DType tensorDType() {
        return switch (this) {
            case F32 -> DType.F32;
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            case I32 -> DType.I32;
            default -> null;
        };
    }

    public static SafetensorsDType of(DType dtype) {
        return switch (dtype) {
            case F32 -> F32;
            case F16 -> F16;
            case BF16 -> BF16;
            case I32 -> I32;
        };
    }

    /** The dtype named {@code name}, or null for a name the format does not define. */
    public static SafetensorsDType parse(String name) {
        for (SafetensorsDType d : values()) if (d.name().equals(name)) return d;
        return null;
    }
}
