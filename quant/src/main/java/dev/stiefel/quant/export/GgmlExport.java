package dev.stiefel.quant.export;

import dev.stiefel.quant.GgmlTarget;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.GgufModelWriter;
import dev.stiefel.llama.io.GgufValue;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes weights quantized through a {@link GgmlTarget} as a GGUF file: every matrix in the type and with the blocks the
 * method chose (so llama.cpp dequantizes exactly the weights that were evaluated), norms in F32, general.file_type of
 * the target's file type, and each fallback named under {@code stiefel.fallbacks} ("tensor: TYPE (reason)").
 */
public final class GgmlExport {
    private GgmlExport() {}

    /** The fallbacks of the written file, one line per matrix: "name: TYPE (reason)". */
    public static List<String> fallbacks(LlamaWeights w, GgmlTarget target) {
        List<String> out = new ArrayList<>();
        GgufModelWriter.matrices(w).forEach((name, t) -> {
            GgmlTarget.Encoded e = encoded(target, name, t);
            if (e.fallback() != null) out.add(name + ": " + e.type() + " (" + e.fallback() + ")");
        });
        return out;
    }

    /**
     * @param vocab        the tokenizer.ggml.* vocabulary, or null
     * @param preTokenizer its tokenizer.ggml.pre name (byte-level BPE), or null
     */
    public static void write(LlamaWeights w, Vocabulary vocab, String preTokenizer, Path path, GgmlTarget target) throws IOException {
        Map<String, Tensor> matrices = GgufModelWriter.matrices(w);
        Map<String, GgufValue> extra = new LinkedHashMap<>();
        extra.put("general.quantized_by", GgufValue.string("stiefel"));
        List<String> fallbacks = fallbacks(w, target);
        if (!fallbacks.isEmpty()) extra.put("stiefel.fallbacks", GgufValue.strings(fallbacks));
        GgufModelWriter.write(w, vocab, preTokenizer, path, target.fileType().id(), new GgufModelWriter.Encoding() {
            @Override public GgmlType type(String name) { return encoded(target, name, matrices.get(name)).type(); }
            @Override public byte[] blocks(String name) { return encoded(target, name, matrices.get(name)).blocks(); }
        }, extra);
    }

    private static GgmlTarget.Encoded encoded(GgmlTarget target, String name, Tensor t) {
        GgmlTarget.Encoded e = t == null ? null : target.encoded(t);
        if (e == null)
            throw new IllegalArgumentException("gguf export: " + name + " was not quantized on the " + target.fileType()
                    + " grids (this method does not support llama.cpp grids, or the weights changed after quantization)");
        return e;
    }
}
