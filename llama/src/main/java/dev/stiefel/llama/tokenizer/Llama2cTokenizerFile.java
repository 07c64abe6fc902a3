package dev.stiefel.llama.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads llama2.c's {@code tokenizer.bin}: a little-endian int32 max_token_length, then for each token an f32 score,
 * an int32 byte length and that many UTF-8 bytes, to the end of the file (the count is the model's vocab size, which
 * the file does not store). llama2.c's exporter (tokenizer.py) writes SentencePiece pieces with '▁' turned into ' '
 * and BOS/EOS as "\n&lt;s&gt;\n" and "\n&lt;/s&gt;\n"; this reader undoes both, so the pieces are SentencePiece's
 * again. Ids 0/1/2 are unk/bos/eos, {@code <0xXX>} pieces are byte-fallback tokens, and the dummy prefix is on, as in
 * llama2.c's own encoder.
 */
public final class Llama2cTokenizerFile {
    private Llama2cTokenizerFile() {}

    public static SentencePieceTokenizer load(Path file) {
        return new SentencePieceTokenizer(readVocabulary(file), false);
    }

    public static Vocabulary readVocabulary(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new TokenizerFormatException(file + ": cannot read llama2.c tokenizer: " + e.getMessage(), e);
        }
        return parse(file.toString(), bytes);
    }

    /** Parses the bytes of a tokenizer.bin; {@code source} names them in error messages. */
    public static Vocabulary parse(String source, byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < 4) throw new TokenizerFormatException(source + ": " + bytes.length + " bytes, too short for the int32 max_token_length header");
        int maxTokenLength = in.getInt();
        if (maxTokenLength <= 0) throw new TokenizerFormatException(source + ": max_token_length " + maxTokenLength + " at offset 0 must be positive");
        List<String> tokens = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (in.hasRemaining()) {
            int at = in.position();
            if (in.remaining() < 8)
                throw new TokenizerFormatException(source + ": token " + tokens.size() + " at offset " + at + " is truncated: "
                        + in.remaining() + " bytes left, a record needs an f32 score and an int32 length");
            float score = in.getFloat();
            int length = in.getInt();
            if (length <= 0 || length > maxTokenLength || length > in.remaining())
                throw new TokenizerFormatException(source + ": token " + tokens.size() + " at offset " + at + " has length " + length
                        + ", expected 1.." + Math.min(maxTokenLength, in.remaining()) + " (max_token_length " + maxTokenLength + ", "
                        + in.remaining() + " bytes left)");
            byte[] text = new byte[length];
            in.get(text);
            tokens.add(new String(text, StandardCharsets.UTF_8));
            scores.add(score);
        }
        if (tokens.size() < 3) throw new TokenizerFormatException(source + ": " + tokens.size() + " tokens; llama2.c vocabularies start with unk, bos, eos");
        for (int id = 0; id < tokens.size(); id++) {
            String t = tokens.get(id);
            if (id == 1 || id == 2) t = t.strip(); // "\n<s>\n" -> "<s>"
            tokens.set(id, t.replace(' ', SentencePieceTokenizer.SPACE));
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) s[i] = scores.get(i);
        int[] types = SentencePieceTokenizer.inferTypes(tokens, 0, 1, 2);
        return new Vocabulary(Vocabulary.Kind.SENTENCEPIECE, tokens, s, types, List.of(), 1, 2, 0, true, true);
    }
}
