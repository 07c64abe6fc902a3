package dev.stiefel.llama.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

class ByteLevelTest {

    @Test
    void everyByteHasItsOwnPrintableCharacter() {
        Set<Character> seen = new HashSet<>();
        for (int b = 0; b < 256; b++) {
            char c = ByteLevel.toChar(b);
            assertThat(seen.add(c)).as("byte %d", b).isTrue();
            assertThat(Character.isWhitespace(c) || Character.isISOControl(c)).as("byte %d -> U+%04X", b, (int) c).isFalse();
            assertThat(ByteLevel.toByte(c)).isEqualTo(b);
        }
    }

    @Test
    void gpt2sAssignment() {
        // printable Latin-1 stands for itself; the 68 others get U+0100.. in byte order: 0..32, 127, 128..160, 173
        assertThat(ByteLevel.toChar('A')).isEqualTo('A');
        assertThat(ByteLevel.toChar(0xE9)).isEqualTo('é');
        assertThat(ByteLevel.toChar(0)).isEqualTo('\u0100');
        assertThat(ByteLevel.toChar('\t')).isEqualTo('ĉ');
        assertThat(ByteLevel.toChar('\n')).isEqualTo('Ċ');
        assertThat(ByteLevel.toChar(' ')).isEqualTo('Ġ');
        assertThat(ByteLevel.toChar(127)).isEqualTo('\u0121');
        assertThat(ByteLevel.toChar(160)).isEqualTo('\u0142');
        assertThat(ByteLevel.toChar(173)).isEqualTo('\u0143');
        assertThat(ByteLevel.toByte('\u4e2d')).isEqualTo(-1);
    }

    @Test
    void randomBytesRoundTrip() {
        Random rnd = new Random(11);
        for (int n : new int[]{1, 7, 33, 257}) {
            byte[] bytes = new byte[n];
            rnd.nextBytes(bytes);
            StringBuilder sb = new StringBuilder();
            for (byte b : bytes) sb.append(ByteLevel.toChar(b));
            assertThat(ByteLevel.decode(sb.toString())).isEqualTo(bytes);
        }
        assertThat(ByteLevel.encode("é 🦙")).isEqualTo("Ã©ĠðŁ¦Ļ");
    }
}
