package dev.stiefel.llama.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns ids into text one at a time, as generation produces them. Byte-fallback tokens carry single bytes of a UTF-8
 * character (an emoji is four {@code <0xXX>} tokens in LLaMA-2), so text is released only up to the last complete
 * character; the unfinished tail waits for the next token. Bytes that can never complete a character are released as
 * U+FFFD, so nothing is held forever. Not thread-safe: one per stream.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private boolean atStart;
    private byte[] pending = new byte[16];
    private int pendingLength;

    StreamDecoder(Tokenizer tokenizer, boolean atStart) {
        this.tokenizer = tokenizer;
        this.atStart = atStart;
    }

    /** The text that token {@code id} completes (often the token's own text, sometimes empty, sometimes more). */
    public String next(int id) {
        byte[] b = tokenizer.tokenBytes(id, atStart);
        atStart = tokenizer.stillAtStart(atStart, id);
        if (pendingLength + b.length > pending.length) pending = Arrays.copyOf(pending, Math.max(2 * pending.length, pendingLength + b.length));
        System.arraycopy(b, 0, pending, pendingLength, b.length);
        pendingLength += b.length;
        int complete = completePrefix(pending, pendingLength);
        String text = new String(pending, 0, complete, StandardCharsets.UTF_8);
        System.arraycopy(pending, complete, pending, 0, pendingLength - complete);
        pendingLength -= complete;
        return text;
    }

    /** Whatever is still held back (an unfinished character at the end of the stream), as text. */
    public String flush() {
        String text = new String(pending, 0, pendingLength, StandardCharsets.UTF_8);
        pendingLength = 0;
        return text;
    }

    /** Length of the prefix of {@code b[0, n)} that does not end inside a UTF-8 character that may still complete. */
    static int completePrefix(byte[] b, int n) {
        // The last lead byte is at most 3 bytes from the end if a character is unfinished.
        for (int i = n - 1; i >= Math.max(0, n - 3); i--) {
            int v = b[i] & 0xff;
            if ((v & 0xc0) == 0x80) continue; // continuation byte: keep looking for its lead
            int need = v >= 0xc2 && v <= 0xdf ? 2 : v >= 0xe0 && v <= 0xef ? 3 : v >= 0xf0 && v <= 0xf4 ? 4 : 1; // 1: ASCII or never valid
            return need > n - i ? i : n; // a lead byte still waiting for continuations holds back from itself
        }
        return n;
    }
}
