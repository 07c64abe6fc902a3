package dev.stiefel.llama.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * GPT-2's byte-to-unicode map (openai/gpt-2 encoder.py {@code bytes_to_unicode}), which byte-level BPE vocabularies
 * are written in: every byte becomes one printable character, so a vocabulary of strings can spell any byte sequence.
 * Bytes that are printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68
 * (controls, space, DEL, NBSP, soft hyphen...) are assigned U+0100, U+0101, ... in byte order. So ' ' is 'Ġ' (U+0120)
 * and '\n' is 'Ċ' (U+010A).
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    static char toChar(int b) { return BYTE_TO_CHAR[b & 0xff]; }

    /** The byte {@code c} stands for, or -1 if it is not in the alphabet. */
    static int toByte(char c) { return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1; }

    /** The UTF-8 bytes of {@code text}, each written as its alphabet character. */
    static String encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
        return new String(out);
    }

    /** The bytes a string of alphabet characters spells; a character outside the alphabet contributes its UTF-8. */
    static byte[] decode(String token) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); ) {
            int cp = token.codePointAt(i);
            int b = cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp] : -1;
            if (b >= 0) out.write(b);
            else out.writeBytes(Character.toString(cp).getBytes(StandardCharsets.UTF_8));
            i += Character.charCount(cp);
        }
        return out.toByteArray();
    }
}
