package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.tokenizer.Vocabulary;

import java.nio.file.Path;

/**
 * What a loader read: the weights, the vocabulary when the file embeds one (GGUF) or null, the format, the path, and
 * the byte-level pre-tokenizer the file names (GGUF's {@code tokenizer.ggml.pre}: "qwen2", "llama-bpe", ...) or null.
 * {@code quantization} is a packed checkpoint's {@value PackedCheckpoint#SECTION} object from config.json, null otherwise,
 * and {@code quantizationTensors} the tensors it refers to by name (empty otherwise).
 * Closing it closes the weights (and unmaps the files behind them).
 */
public record LoadedModel(LlamaWeights weights, Vocabulary vocabulary, ModelFormat format, Path source, String preTokenizer,
                          JsonNode quantization, java.util.Map<String, double[]> quantizationTensors) implements AutoCloseable {

    /** A model whose file names no pre-tokenizer. */
    public LoadedModel(LlamaWeights weights, Vocabulary vocabulary, ModelFormat format, Path source) {
        this(weights, vocabulary, format, source, null, null, java.util.Map.of());
    }

    /** A model that is not a packed checkpoint. */
    public LoadedModel(LlamaWeights weights, Vocabulary vocabulary, ModelFormat format, Path source, String preTokenizer) {
        this(weights, vocabulary, format, source, preTokenizer, null, java.util.Map.of());
    }

    /** Whether this is a packed checkpoint ({@link PackedCheckpoint}): its quantized matrices are codes, and {@link #quantization} says what runs around them. */
    public boolean isPacked() { return quantization != null; }

    /** The tokenizer of the vocabulary the file embeds, split as the file says; null when it embeds none. */
    public dev.stiefel.llama.tokenizer.Tokenizer embeddedTokenizer() {
        return vocabulary == null ? null : dev.stiefel.llama.tokenizer.Tokenizers.fromVocabulary(vocabulary, preTokenizer);
    }

    @Override public void close() { weights.close(); }
}
