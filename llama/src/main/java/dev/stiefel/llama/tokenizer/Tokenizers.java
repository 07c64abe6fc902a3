package dev.stiefel.llama.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/** Builds the right {@link Tokenizer} for a file a user brings, or for a vocabulary a model file carries. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * Loads {@code tokenizer.model} (SentencePiece protobuf), {@code tokenizer.json} (Hugging Face tokenizers) or a
     * llama2.c {@code tokenizer.bin} / {@code tok512.bin} (any other name ending in .bin). A directory is searched for
     * tokenizer.json, then tokenizer.model, then tokenizer.bin.
     */
    public static Tokenizer load(Path path) {
        if (Files.isDirectory(path)) {
            for (String name : new String[]{"tokenizer.json", "tokenizer.model", "tokenizer.bin"}) {
                Path candidate = path.resolve(name);
                if (Files.isRegularFile(candidate)) return load(candidate);
            }
            throw new TokenizerFormatException(path + ": directory has no tokenizer.json, tokenizer.model or tokenizer.bin");
        }
        if (!Files.isRegularFile(path)) throw new TokenizerFormatException(path + ": no such tokenizer file");
        String name = path.getFileName().toString();
        if (name.endsWith(".json")) return TokenizerJsonFile.load(path);
        if (name.endsWith(".model")) return SentencePieceModelFile.load(path);
        if (name.endsWith(".bin")) return Llama2cTokenizerFile.load(path);
        throw new TokenizerFormatException(path + ": unknown tokenizer file type; expected tokenizer.json, tokenizer.model or a llama2.c tokenizer .bin");
    }

    /**
     * The tokenizer for a vocabulary read from a model file (GGUF's {@code tokenizer.ggml.*}). A byte-level BPE
     * vocabulary is split with GPT-2's pre-tokenizer regex; use {@link #fromVocabulary(Vocabulary, String)} with the
     * GGUF {@code tokenizer.ggml.pre} name for models trained with another one (LLaMA-3: "llama-bpe").
     */
    public static Tokenizer fromVocabulary(Vocabulary vocabulary) {
        return fromVocabulary(vocabulary, null);
    }

    /**
     * @param preTokenizer for byte-level BPE, the GGUF {@code tokenizer.ggml.pre} value ("gpt2", "llama-bpe",
     *                     "smollm", ...; null or "default" for GPT-2's); ignored for SentencePiece
     */
    public static Tokenizer fromVocabulary(Vocabulary vocabulary, String preTokenizer) {
        return switch (vocabulary.kind()) {
            case SENTENCEPIECE -> new SentencePieceTokenizer(vocabulary, false);
            case BYTE_LEVEL_BPE -> BpeTokenizer.fromVocabulary(vocabulary, PreTokenizer.forGgufName(preTokenizer));
        };
    }
}
