package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.tokenizer.Vocabulary;

import java.nio.file.Path;

/**
 * What a loader read: the weights, the vocabulary when the file embeds one (GGUF) or null, the format and the
 * path. Closing it closes the weights (and unmaps the files behind them).
 */
public record LoadedModel(LlamaWeights weights, Vocabulary vocabulary, ModelFormat format, Path source) implements AutoCloseable {
    @Override public void close() { weights.close(); }
}
