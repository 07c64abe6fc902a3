package dev.stiefel.cli;

import dev.stiefel.llama.tokenizer.BpeTokenizer;
import dev.stiefel.llama.tokenizer.SentencePieceTokenizer;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.export.GgmlExport;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** {@code quantize --save model.gguf}: the last quantized model as a GGUF file on the llama.cpp grids it was quantized on. */
final class GgufSave {
    private GgufSave() {}

    /** A path with {method} and/or {config} in its name: every quantized model is written, each to its own file. */
    static boolean isPattern(Path p) { return p.toString().contains("{method}") || p.toString().contains("{config}"); }

    static Path resolve(Path pattern, String method, QuantConfig config) {
        return Path.of(pattern.toString().replace("{method}", method).replace("{config}", config.shorthand().replace(' ', '_')));
    }

    static boolean isGguf(Path p) { return p.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gguf"); }

    static void write(ModelSession s, QuantConfig config, QuantizedModel q, String method, Path path) throws IOException {
        if (config.ggml() == null)
            throw new IllegalArgumentException("--save " + path + ": a GGUF file stores llama.cpp's grids; quantize with --config Q4_0, Q4_1, Q8_0, "
                    + "Q4_K, Q4_K_S, Q4_K_M or Q6_K (the last config is " + config.shorthand() + ")");
        if (config.activation() != null || config.key() != null || config.value() != null)
            throw new IllegalArgumentException("--save " + path + ": llama.cpp runs weight-only files; " + config.shorthand() + " also quantizes activations or the KV cache");
        Vocabulary v = s.loaded().vocabulary();
        String pre = s.loaded().preTokenizer();   // a GGUF's vocabulary is written back as it was read
        int rows = q.weights().config().vocabSize();
        String missing = null;
        if (v == null) {
            switch (s.tokenizer()) {
                case SentencePieceTokenizer sp when sp.vocabulary().size() == rows -> v = sp.vocabulary();
                case SentencePieceTokenizer sp -> missing = "the tokenizer has " + sp.vocabulary().size() + " pieces and the model " + rows + " embedding rows";
                case BpeTokenizer bpe when bpe.isByteLevel() -> {
                    v = bpe.vocabulary(rows);
                    pre = bpe.ggufPreTokenizer();
                    if (pre == null)
                        System.err.println("warning: " + path + " is written without tokenizer.ggml.pre: the tokenizer's pre-tokenizer is none of llama.cpp's "
                                + "(" + String.join(", ", BpeTokenizer.GGUF_PRE_TOKENIZERS) + "), so llama.cpp will split text with its default regexes");
                }
                default -> missing = "no GGUF vocabulary for " + s.tokenizer();
            }
        }
        if (missing != null) System.err.println("warning: " + path + " is written without tokenizer.ggml.* keys (" + missing + "); llama.cpp needs them");
        GgmlExport.write(q.weights(), v, pre, path, config.ggml());
        List<String> fallbacks = GgmlExport.fallbacks(q.weights(), config.ggml());
        System.err.println("wrote " + method + " " + config.shorthand() + " to " + path + " (GGUF v3, general.file_type " + config.ggml().fileType().id() + ")");
        for (String f : fallbacks) System.err.println("  fallback " + f);
    }
}
