package dev.stiefel.llama.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Text ↔ token ids for one vocabulary. Implementations are immutable and safe to share between threads.
 * Build one with {@link Tokenizers#load(java.nio.file.Path)} or {@link Tokenizers#fromVocabulary(Vocabulary)}.
 */
public interface Tokenizer {

    /**
     * The ids of {@code text}, preceded by {@link #bos()} when {@code addBos} (and the vocabulary has one). Never
     * adds EOS. Which special tokens written in the text are recognised follows the reference of each format:
     * SentencePiece matches user-defined pieces but never control pieces ({@code "<s>"} in the text is text),
     * tokenizer.json BPE matches its added tokens as the Hugging Face tokenizers library does.
     */
    int[] encode(String text, boolean addBos);

    /** {@link #encode(String, boolean)} with the vocabulary's own BOS default. */
    default int[] encode(String text) { return encode(text, addsBosByDefault()); }

    /**
     * The bytes token {@code id} stands for. {@code atStart} says nothing visible has been decoded before it (the
     * start of the text, or right after BOS): there SentencePiece drops the space its encoder added as a dummy
     * prefix. Control and special tokens (BOS, EOS, ...) give no bytes. A byte-fallback token gives its one byte, which
     * may be a fragment of a UTF-8 character: join bytes before making text, or use a {@link StreamDecoder}.
     */
    byte[] tokenBytes(int id, boolean atStart);

    /** The text of {@code ids}: the bytes of every token joined and read as UTF-8 (malformed bytes become U+FFFD). */
    default String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        boolean atStart = true;
        for (int id : ids) {
            out.writeBytes(tokenBytes(id, atStart));
            atStart = stillAtStart(atStart, id);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /**
     * A decoder for streaming generation: feed it one id at a time and it returns the text completed so far, holding
     * back the bytes of an unfinished UTF-8 character. {@code atStart} as for {@link #tokenBytes}: true when the first
     * id fed follows BOS or nothing, false when it continues text already shown (such as a prompt).
     */
    default StreamDecoder streamDecoder(boolean atStart) { return new StreamDecoder(this, atStart); }

    /**
     * Whether {@code id} is a control or special token (BOS, EOS, chat markers...), which decodes to no text. Generation
     * loops may stop on these; {@link #decode} skips them.
     */
    boolean isSpecial(int id);

    /** Whether nothing visible has been decoded after {@code id}, given whether that held before it. */
    default boolean stillAtStart(boolean atStart, int id) {
        return id == bos() || (atStart && isSpecial(id));
    }

    /** The token's string as the vocabulary spells it (SentencePiece pieces with '▁', byte-level BPE in GPT-2's byte alphabet). */
    String token(int id);

    /** The id whose vocabulary string is {@code token}, or -1. */
    int id(String token);

    int vocabSize();

    /** Beginning-of-sequence id, or -1. */
    int bos();

    /** End-of-sequence id, or -1. */
    int eos();

    /** Whether {@link #encode(String)} prepends BOS (what the model was trained with). */
    boolean addsBosByDefault();
}
