package dev.stiefel.llama.tokenizer;

import dev.stiefel.llama.io.ReadLimits;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
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
            bytes = ReadLimits.readAll(file, ReadLimits.MAX_TOKENIZER_BYTES, "the llama2.c tokenizer");
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

    /**
     * Writes a SentencePiece vocabulary as llama2.c's exporter does ('▁' as ' ', BOS/EOS as "\n&lt;s&gt;\n" and
     * "\n&lt;/s&gt;\n"), atomically. Its ids must follow llama2.c's layout: 0 unk, 1 bos, 2 eos.
     */
    public static void write(Vocabulary v, Path file) throws java.io.IOException {
        if (v.kind() != Vocabulary.Kind.SENTENCEPIECE || v.scores() == null)
            throw new IllegalArgumentException("tokenizer.bin holds SentencePiece vocabularies with scores, not " + v.kind());
        if (v.unk() != 0 || v.bos() != 1 || v.eos() != 2)
            throw new IllegalArgumentException("tokenizer.bin needs unk/bos/eos at ids 0/1/2, got " + v.unk() + "/" + v.bos() + "/" + v.eos());
        byte[][] pieces = new byte[v.size()][];
        int max = 1;
        for (int id = 0; id < v.size(); id++) {
            String t = v.tokens().get(id).replace(SentencePieceTokenizer.SPACE, ' ');
            if (id == 1 || id == 2) t = "\n" + t + "\n";
            pieces[id] = t.getBytes(StandardCharsets.UTF_8);
            max = Math.max(max, pieces[id].length);
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        out.writeBytes(b.putInt(0, max).array());
        for (int id = 0; id < v.size(); id++) {
            out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(v.scores()[id]).putInt(pieces[id].length).array());
            out.writeBytes(pieces[id]);
        }
        dev.stiefel.llama.io.AtomicFiles.write(file, out.toByteArray());
    }
}
