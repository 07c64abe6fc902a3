package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;

import java.util.Locale;

/**
 * The llama.cpp file types ({@code llama_ftype}) a model can be exported as, and which ggml type each of its matrices
 * gets, by the rules of llama-quantize's {@code llama_tensor_get_type} (src/llama-quant.cpp, llama.cpp commit c392e50)
 * for a LLaMA-architecture model without an importance matrix:
 * <ul>
 *   <li>the output head (or the token embedding when the head is tied to it) gets Q6_K, or Q8_0 in a Q8_0 file or when
 *       its rows are not a multiple of the default type's block;</li>
 *   <li>Q4_K_M: attn_v and ffn_down of the layers where {@code use_more_bits} holds (the first and last eighth, and
 *       every third layer between) get Q6_K; Q4_K_S: attn_v of the first 4 layers and ffn_down of the first eighth
 *       get Q5_K;</li>
 *   <li>every other matrix gets the file's default type;</li>
 *   <li>a type whose block does not divide the rows falls back as llama-quantize does (Q4_K → Q5_0, Q5_K → Q5_1,
 *       Q6_K → Q8_0, then F16 if that block does not divide them either). Where llama-quantize refuses instead (a
 *       legacy type Q4_0/Q4_1/Q8_0 on rows not a multiple of 32), this exporter falls back to F16 too and says so:
 *       {@link Choice#fallback} is set and the exporter records it in the file and the report.</li>
 * </ul>
 * Not modelled: the 70B attn_v rule, mixture-of-experts and Falcon rules, importance-matrix rules.
 * {@code Q4_K} is not a llama.cpp file type: it is every matrix in Q4_K with the head rule above, written with
 * file_type Q4_K_S (the nearest).
 */
public enum FileType {
    Q4_0(2, GgmlType.Q4_0), Q4_1(3, GgmlType.Q4_1), Q8_0(7, GgmlType.Q8_0), Q5_0(8, GgmlType.Q5_0), Q5_1(9, GgmlType.Q5_1),
    Q4_K(14, GgmlType.Q4_K), Q4_K_S(14, GgmlType.Q4_K), Q4_K_M(15, GgmlType.Q4_K), Q6_K(18, GgmlType.Q6_K);

    private final int id;
    private final GgmlType defaultType;

    FileType(int id, GgmlType defaultType) {
        this.id = id;
        this.defaultType = defaultType;
    }

    /** llama.cpp's {@code llama_ftype}, written as general.file_type. */
    public int id() { return id; }

    public GgmlType defaultType() { return defaultType; }

    /** The file type named {@code s} (case-insensitive), or null. */
    public static FileType parse(String s) {
        for (FileType t : values()) if (t.name().equalsIgnoreCase(s.trim())) return t;
        return null;
    }

    /** What a matrix becomes: its type, the type the rules wanted (differs when a fallback applied) and why. */
    public record Choice(GgmlType type, GgmlType wanted, String fallback) {
        public boolean isFallback() { return fallback != null; }
    }

    /** Which matrix: the output head (or a tied embedding), the embedding, or a block linear by its GGUF name part. */
    public enum Role { OUTPUT, TOKEN_EMBD, ATTN_Q, ATTN_K, ATTN_V, ATTN_OUTPUT, FFN_GATE, FFN_UP, FFN_DOWN }

    /**
     * The type of a matrix of {@code role} in layer {@code layer} of {@code layers}, whose rows have {@code cols}
     * values (ggml's ne[0]).
     */
    public Choice choose(Role role, int layer, int layers, int cols) {
        GgmlType t = defaultType;
        switch (role) {
            case OUTPUT -> {
                if (this == Q8_0 || cols % defaultType.blockSize() != 0) t = GgmlType.Q8_0;
                else t = GgmlType.Q6_K;
            }
            case ATTN_V -> {
                if (this == Q4_K_M && useMoreBits(layer, layers)) t = GgmlType.Q6_K;
                else if (this == Q4_K_S && layer < 4) t = GgmlType.Q5_K;
            }
            case FFN_DOWN -> {
                if (this == Q4_K_M && useMoreBits(layer, layers)) t = GgmlType.Q6_K;
                else if (this == Q4_K_S && layer < layers / 8) t = GgmlType.Q5_K;
            }
            default -> { }
        }
        if (cols % t.blockSize() == 0) return new Choice(t, t, null);
        GgmlType f = switch (t) {
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> GgmlType.F16;
        };
        if (cols % f.blockSize() != 0) f = GgmlType.F16;
        String why = "rows of " + cols + " values are not a multiple of " + t + "'s block of " + t.blockSize()
                + (f == GgmlType.F16 && t.blockSize() == 32 ? " (llama-quantize refuses this tensor; stored as F16)" : " (llama-quantize's fallback)");
        return new Choice(f, t, why);
    }

    /** llama-quantize's {@code use_more_bits}: the first and last eighth of the layers, and every third one between. */
    static boolean useMoreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    @Override public String toString() { return name().toUpperCase(Locale.ROOT); }
}
