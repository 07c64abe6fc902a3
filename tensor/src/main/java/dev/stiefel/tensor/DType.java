package dev.stiefel.tensor;

/**
 * Element types a tensor can be stored in. Compute happens in {@link #F32}; {@link #F16} and {@link #BF16}
 * are storage formats (weights on disk and in memory) converted to f32 on use; {@link #I32} holds indices
 * (token ids, argmax and top-k results, gather indices).
 */
public enum DType {
    F32(4, true),
    F16(2, true),
    BF16(2, true),
    I32(4, false);

    private final int bytes;
    private final boolean floating;

    DType(int bytes, boolean floating) {
        this.bytes = bytes;
        this.floating = floating;
    }

    /** Bytes per element. */
    public int bytes() { return bytes; }

    /** Whether values are real numbers that the float kernels can read. */
    public boolean isFloating() { return floating; }

    public String lower() { return name().toLowerCase(java.util.Locale.ROOT); }

    /** The dtype named {@code name} in any case ("f32", "BF16", ...). */
    public static DType parse(String name) {
        for (DType d : values()) if (d.name().equalsIgnoreCase(name)) return d;
        throw new IllegalArgumentException("unknown dtype '" + name + "'; expected one of f32, f16, bf16, i32");
    }
}
