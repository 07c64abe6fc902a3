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

    /**
     * Checks that a tokenizer can be built from {@code v}, as a reader of a file that carries one must before it calls
     * the file good: a SentencePiece vocabulary has scores, every piece typed BYTE is a {@code <0xXX>} piece, and there
     * are byte pieces or an unknown piece (else some text could not be encoded); every BPE merge is two tokens
     * separated by a space whose halves and concatenation are tokens.
     *
     * @param source names the vocabulary (its file and keys) in the message
     * @throws TokenizerFormatException naming the first problem, its token id or merge rank
     */
    public static void validate(Vocabulary v, String source) {
        switch (v.kind()) {
            case SENTENCEPIECE -> {
                if (v.scores() == null) throw new TokenizerFormatException(source + ": a SentencePiece vocabulary needs merge scores, and this one has none");
                boolean bytePieces = false;
                for (int id = 0; v.types() != null && id < v.size(); id++) {
                    if (v.types()[id] != Vocabulary.BYTE) continue;
                    if (SentencePieceTokenizer.parseByte(v.tokens().get(id)) < 0)
                        throw new TokenizerFormatException(source + ": token " + id + " '" + v.tokens().get(id) + "' has type BYTE but is not a <0xXX> piece");
                    bytePieces = true;
                }
                if (v.types() == null) for (String t : v.tokens()) bytePieces |= SentencePieceTokenizer.parseByte(t) >= 0;
                if (!bytePieces && v.unk() < 0)
                    throw new TokenizerFormatException(source + ": the vocabulary has neither byte pieces nor an unknown piece, so text outside it could not be encoded");
            }
            case BYTE_LEVEL_BPE -> {
                java.util.Set<String> tokens = new java.util.HashSet<>(v.tokens());
                for (int rank = 0; rank < v.merges().size(); rank++) {
                    String m = v.merges().get(rank);
                    int space = m.indexOf(' ', 1); // neither half of a byte-level token contains ' '
                    if (space < 0)
                        throw new TokenizerFormatException(source + ": merge " + rank + " '" + m + "' is not two tokens separated by a space");
                    String left = m.substring(0, space), right = m.substring(space + 1);
                    for (String t : new String[]{left, right, left + right})
                        if (!tokens.contains(t)) throw new TokenizerFormatException(source + ": merge " + rank + " '" + m + "' names '" + t + "', which is not a token");
                }
            }
        }
    }
}
