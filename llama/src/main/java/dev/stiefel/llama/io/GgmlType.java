package dev.stiefel.llama.io;

/**
 * ggml's tensor element types as GGUF files number them (ggml.h's {@code enum ggml_type}), with their block
 * layout: {@code blockSize} elements take {@code typeSize} bytes. F32, F16 and BF16 are memory-mapped; the block
 * formats of {@link dev.stiefel.llama.io.ggml.BlockFormats} are dequantized on load; the others are named so an error
 * can say what a file holds, and their sizes (where given) are used to check the file's layout.
 */
public enum GgmlType {
    F32(0, 1, 4), F16(1, 1, 2), Q4_0(2, 32, 18), Q4_1(3, 32, 20), Q5_0(6, 32, 22), Q5_1(7, 32, 24), Q8_0(8, 32, 34), Q8_1(9, 32, 36),
    Q2_K(10, 256, 84), Q3_K(11, 256, 110), Q4_K(12, 256, 144), Q5_K(13, 256, 176), Q6_K(14, 256, 210), Q8_K(15, 256, 292),
    IQ2_XXS(16, 256, 0), IQ2_XS(17, 256, 0), IQ3_XXS(18, 256, 0), IQ1_S(19, 256, 0), IQ4_NL(20, 32, 0), IQ3_S(21, 256, 0),
    IQ2_S(22, 256, 0), IQ4_XS(23, 256, 0), I8(24, 1, 1), I16(25, 1, 2), I32(26, 1, 4), I64(27, 1, 8), F64(28, 1, 8),
    IQ1_M(29, 256, 0), BF16(30, 1, 2), TQ1_0(34, 256, 0), TQ2_0(35, 256, 0);

    private final int id, blockSize, typeSize;

    GgmlType(int id, int blockSize, int typeSize) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    public int id() { return id; }

    /** Elements per block (1 for plain types). */
    public int blockSize() { return blockSize; }

    /** Bytes per block, or 0 where this reader does not know the layout. */
    public int typeSize() { return typeSize; }

    /** Bytes of {@code numel} elements (a whole number of blocks), or -1 when the layout is unknown. */
    public long byteSize(long numel) { return typeSize == 0 ? -1 : numel / blockSize * typeSize; }

    /** The type numbered {@code id}, or null for a number ggml does not define. */
    public static GgmlType of(long id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        return null;
    }
}
