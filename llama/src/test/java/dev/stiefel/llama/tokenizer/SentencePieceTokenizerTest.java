package dev.stiefel.llama.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** SentencePiece BPE on small vocabularies whose ids are worked out by hand in each test. */
class SentencePieceTokenizerTest {
    private static final int NORMAL = Vocabulary.NORMAL;

    /** Pieces, scores and types; ids in the order added. */
    private static final class Pieces {
        final List<String> text = new ArrayList<>();
        final List<Float> score = new ArrayList<>();
        final List<Integer> type = new ArrayList<>();

        Pieces add(String t, float s, int ty) {
            text.add(t);
            score.add(s);
            type.add(ty);
            return this;
        }

        /** ids 0..2 unk/bos/eos, then 256 byte pieces (byte b is id 3 + b) when {@code bytes}. */
        static Pieces llamaLike(boolean bytes) {
            Pieces p = new Pieces().add("<unk>", 0, Vocabulary.UNKNOWN).add("<s>", 0, Vocabulary.CONTROL).add("</s>", 0, Vocabulary.CONTROL);
            if (bytes) for (int b = 0; b < 256; b++) p.add(String.format("<0x%02X>", b), 0, Vocabulary.BYTE);
            return p;
        }

        Vocabulary vocabulary(boolean dummyPrefix) {
            float[] s = new float[score.size()];
            int[] t = new int[type.size()];
            for (int i = 0; i < s.length; i++) {
                s[i] = score.get(i);
                t[i] = type.get(i);
            }
            return new Vocabulary(Vocabulary.Kind.SENTENCEPIECE, text, s, t, List.of(), 1, 2, 0, true, dummyPrefix);
        }

        SentencePieceTokenizer tokenizer(boolean dummyPrefix) { return new SentencePieceTokenizer(vocabulary(dummyPrefix), false); }

        byte[] modelFile(ProtoWriter trainer, ProtoWriter normalizer) {
            ProtoWriter model = new ProtoWriter();
            for (int i = 0; i < text.size(); i++) model.message(1, ProtoWriter.piece(text.get(i), score.get(i), type.get(i)));
            if (trainer != null) model.message(2, trainer);
            if (normalizer != null) model.message(3, normalizer);
            return model.toByteArray();
        }
    }

    // 259 ▁, 260 a, 261 b, 262 c, 263 ab, 264 bc, 265 ▁a, 266 abc, 267 aa
    private static Pieces abc() {
        return Pieces.llamaLike(true).add("▁", -10, NORMAL).add("a", -10, NORMAL).add("b", -10, NORMAL).add("c", -10, NORMAL)
                .add("ab", -3, NORMAL).add("bc", -2, NORMAL).add("▁a", -4, NORMAL).add("abc", -1, NORMAL).add("aa", -5, NORMAL);
    }

    @Test
    void mergesTheHighestScoringPairFirstNotTheLeftmost() {
        // "▁abc": candidates ▁a (-4), ab (-3), bc (-2). bc wins; then a+bc = abc (-1); "▁abc" is no piece.
        assertThat(abc().tokenizer(true).encode("abc", false)).containsExactly(259, 266);
        // without the dummy prefix the same merges leave one piece
        assertThat(abc().tokenizer(false).encode("abc", false)).containsExactly(266);
    }

    @Test
    void equalScoresMergeLeftmostFirstAndStaleCandidatesAreSkipped() {
        // "aaa": both "aa" pairs score -5; the left one merges, the right one is then stale.
        assertThat(abc().tokenizer(false).encode("aaa", false)).containsExactly(267, 260);
        // "▁aaa": ▁a (-4) first, which makes the queued pair (a, a) at 1..2 stale; then the pair at 2..3 merges.
        assertThat(abc().tokenizer(true).encode("aaa", false)).containsExactly(265, 267);
    }

    @Test
    void charactersOutsideTheVocabularyFallBackToTheirUtf8Bytes() {
        SentencePieceTokenizer t = abc().tokenizer(true);
        // é = C3 A9, 🦙 = F0 9F A6 99; byte b is id 3 + b
        assertThat(t.encode("aé", false)).containsExactly(265, 3 + 0xC3, 3 + 0xA9);
        assertThat(t.encode("🦙", false)).containsExactly(259, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99);
        assertThat(t.decode(new int[]{1, 265, 3 + 0xC3, 3 + 0xA9, 2})).isEqualTo("aé");
        assertThat(t.decode(t.encode(" a🦙é  b\t", true))).isEqualTo(" a🦙é  b\t");
    }

    @Test
    void withoutBytePiecesARunOfUnknownCharactersIsOneUnknownToken() {
        // 3 ▁, 4 a, 5 ▁a
        SentencePieceTokenizer t = Pieces.llamaLike(false).add("▁", -2, NORMAL).add("a", -2, NORMAL).add("▁a", -1, NORMAL).tokenizer(true);
        assertThat(t.encode("aéé", false)).containsExactly(5, 0);
        assertThat(t.encode("éaé", false)).containsExactly(3, 0, 4, 0);
        assertThat(t.decode(new int[]{5, 0})).isEqualTo("a \u2047 ");
    }

    @Test
    void userDefinedPiecesStayWholeAndNeverMerge() {
        // 268 <sep>; "ab" would merge across it if it were split into characters
        SentencePieceTokenizer t = abc().add("<sep>", 0, Vocabulary.USER_DEFINED).tokenizer(true);
        assertThat(t.encode("a<sep>bc", false)).containsExactly(265, 268, 264);
        assertThat(t.decode(t.encode("a<sep>bc", false))).isEqualTo("a<sep>bc");
    }

    @Test
    void unusedPiecesMayBeMergedThroughButAreSplitBackWhenLeftOver() {
        // 3 a, 4 b, 5 c, 6 ab (unused, best score), 7 abc
        Pieces p = Pieces.llamaLike(false).add("a", -9, NORMAL).add("b", -9, NORMAL).add("c", -9, NORMAL)
                .add("ab", -1, Vocabulary.UNUSED).add("abc", -2, NORMAL);
        SentencePieceTokenizer t = p.tokenizer(false);
        assertThat(t.encode("abc", false)).containsExactly(7);
        assertThat(t.encode("ab", false)).containsExactly(3, 4);
        assertThat(t.encode("abab", false)).containsExactly(3, 4, 3, 4);
    }

    @Test
    void controlAndBytePiecesAreNeverMergeTargets() {
        // "<s>" spelled out in text stays text even though "<s" + ">" would form the control piece
        Pieces p = Pieces.llamaLike(true).add("<", -1, NORMAL).add("s", -1, NORMAL).add(">", -1, NORMAL).add("<s", -0.5f, NORMAL);
        SentencePieceTokenizer t = p.tokenizer(false);
        assertThat(t.encode("<s>", false)).containsExactly(262, 261);
        assertThat(t.isSpecial(1)).isTrue();
        assertThat(t.isSpecial(262)).isFalse();
    }

    @Test
    void bosIsAddedOnRequestAndDecodingDropsOnlyTheFirstDummySpace() {
        SentencePieceTokenizer t = abc().tokenizer(true);
        assertThat(t.encode("", true)).containsExactly(1);
        assertThat(t.encode("", false)).isEmpty();
        assertThat(t.encode("a", true)).containsExactly(1, 265);
        // " a" is "▁▁a": ▁ then ▁a; the first ▁ is the dummy prefix, the second the user's space
        assertThat(t.encode(" a", false)).containsExactly(259, 265);
        assertThat(t.decode(new int[]{259, 265})).isEqualTo(" a");
        assertThat(t.decode(new int[]{265, 265})).isEqualTo("a a");
        assertThat(t.decode(new int[]{1, 2, 1, 265})).isEqualTo("a");
        assertThat(t.tokenBytes(265, true)).isEqualTo("a".getBytes(StandardCharsets.UTF_8));
        assertThat(t.tokenBytes(265, false)).isEqualTo(" a".getBytes(StandardCharsets.UTF_8));
        assertThatThrownBy(() -> t.tokenBytes(9999, false)).hasMessageContaining("9999");
    }

    @Test
    void streamingHoldsBackPartialUtf8UntilTheCharacterIsComplete() {
        SentencePieceTokenizer t = abc().tokenizer(true);
        StreamDecoder stream = t.streamDecoder(true);
        int[] ids = {1, 259, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99, 265, 3 + 0xC3};
        List<String> out = new ArrayList<>();
        for (int id : ids) out.add(stream.next(id));
        assertThat(out).containsExactly("", "", "", "", "", "🦙", " a", "");
        assertThat(stream.next(3 + 0xA9)).isEqualTo("é");
        // a lone continuation byte can never complete: it is released as U+FFFD, not held forever
        assertThat(stream.next(3 + 0xA9)).isEqualTo("\uFFFD");
        assertThat(stream.next(3 + 0xE2)).isEmpty();
        assertThat(stream.flush()).isEqualTo("\uFFFD");
        // continuing after a prompt keeps the space of the first generated piece
        assertThat(t.streamDecoder(false).next(265)).isEqualTo(" a");
    }

    @Test
    void readsATokenizerModelFileSkippingFieldsItDoesNotNeed() {
        Pieces p = abc();
        ProtoWriter trainer = new ProtoWriter().string(1, "corpus.txt").varint(3, 2).varint(4, p.text.size()).float32(10, 0.9995f)
                .varint(35, 1).varint(40, 0).varint(41, 1).varint(42, 2).varint(43, -1).string(45, "<unk>").fixed64(199, 42);
        ProtoWriter normalizer = new ProtoWriter().string(1, "identity").bytes(2, new byte[0]).varint(3, 1).varint(4, 0);
        byte[] file = p.modelFile(trainer, normalizer);
        SentencePieceTokenizer t = SentencePieceModelFile.parse("test.model", file);
        assertThat(t.vocabulary().tokens()).isEqualTo(p.text);
        assertThat(t.vocabulary().types()[3]).isEqualTo(Vocabulary.BYTE);
        assertThat(t.vocabulary().scores()[264]).isEqualTo(-2f);
        assertThat(t.encode("abc", true)).containsExactly(1, 259, 266);
    }

    @Test
    void modelFileFlagsAreHonoured() {
        Pieces p = abc();
        ProtoWriter trainer = new ProtoWriter().varint(3, 2);
        // add_dummy_prefix off, remove_extra_whitespaces on
        SentencePieceTokenizer t = SentencePieceModelFile.parse("t.model", p.modelFile(trainer, new ProtoWriter().string(1, "identity").varint(3, 0).varint(4, 1)));
        assertThat(t.encode("abc", false)).containsExactly(266);
        assertThat(t.encode("  a   a  ", false)).containsExactly(t.encode("a a", false));
        assertThat(t.encode("   ", false)).isEmpty();
        // defaults when there is no normalizer_spec: dummy prefix on, extra whitespace removed
        SentencePieceTokenizer d = SentencePieceModelFile.parse("t.model", p.modelFile(trainer, null));
        assertThat(d.encode("abc ", false)).containsExactly(259, 266);
    }

    @Test
    void malformedOrUnsupportedModelFilesAreRefusedWithTheReason() {
        Pieces p = abc();
        ProtoWriter bpe = new ProtoWriter().varint(3, 2);
        byte[] good = p.modelFile(bpe, null);
        assertThatThrownBy(() -> SentencePieceModelFile.parse("cut.model", Arrays.copyOf(good, good.length - 3)))
                .isInstanceOf(TokenizerFormatException.class).hasMessageContaining("cut.model").hasMessageContaining("offset");
        assertThatThrownBy(() -> SentencePieceModelFile.parse("uni.model", p.modelFile(new ProtoWriter().varint(3, 1), null)))
                .hasMessageContaining("uni.model").hasMessageContaining("unigram");
        assertThatThrownBy(() -> SentencePieceModelFile.parse("nfkc.model", p.modelFile(bpe, new ProtoWriter().string(1, "nmt_nfkc").bytes(2, new byte[]{1, 2, 3}))))
                .hasMessageContaining("nmt_nfkc").hasMessageContaining("precompiled_charsmap");
        assertThatThrownBy(() -> SentencePieceModelFile.parse("empty.model", new byte[0])).hasMessageContaining("no pieces");
        byte[] group = {(byte) (5 << 3 | 3)}; // field 5, wire type 3 (start group)
        assertThatThrownBy(() -> SentencePieceModelFile.parse("group.model", group)).hasMessageContaining("wire type 3");
        byte[] badType = new Pieces().add("<unk>", 0, 9).modelFile(bpe, null);
        assertThatThrownBy(() -> SentencePieceModelFile.parse("type.model", badType)).hasMessageContaining("unknown type 9");
    }

    /** llama2.c's exporter: max_token_length, then per token score, length, bytes; ' ' for '▁', "\n<s>\n" for BOS. */
    static byte[] llama2cFile(List<String> pieces, float[] scores) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<byte[]> texts = new ArrayList<>();
        for (int i = 0; i < pieces.size(); i++) {
            String t = i == 1 ? "\n<s>\n" : i == 2 ? "\n</s>\n" : pieces.get(i).replace('▁', ' ');
            texts.add(t.getBytes(StandardCharsets.UTF_8));
        }
        int max = texts.stream().mapToInt(b -> b.length).max().orElse(0);
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(max).array());
        for (int i = 0; i < texts.size(); i++) {
            out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(scores[i]).putInt(texts.get(i).length).array());
            out.writeBytes(texts.get(i));
        }
        return out.toByteArray();
    }

    @Test
    void readsALlama2cTokenizerBinIntoTheSameVocabulary() {
        Vocabulary v = abc().vocabulary(true);
        Vocabulary read = Llama2cTokenizerFile.parse("tok.bin", llama2cFile(v.tokens(), v.scores()));
        assertThat(read.tokens()).isEqualTo(v.tokens());
        assertThat(read.scores()).isEqualTo(v.scores());
        assertThat(read.types()).isEqualTo(v.types());
        assertThat(new SentencePieceTokenizer(read, false).encode("aé", true)).containsExactly(1, 265, 3 + 0xC3, 3 + 0xA9);
    }

    @Test
    void malformedTokenizerBinIsRefusedWithFileAndOffset() {
        Vocabulary v = abc().vocabulary(true);
        byte[] good = llama2cFile(v.tokens(), v.scores());
        assertThatThrownBy(() -> Llama2cTokenizerFile.parse("cut.bin", Arrays.copyOf(good, good.length - 1)))
                .isInstanceOf(TokenizerFormatException.class).hasMessageContaining("cut.bin").hasMessageContaining("token 267").hasMessageContaining("offset");
        byte[] tooLong = good.clone();
        ByteBuffer.wrap(tooLong).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 1000); // length of token 0
        assertThatThrownBy(() -> Llama2cTokenizerFile.parse("long.bin", tooLong)).hasMessageContaining("token 0 at offset 4 has length 1000");
        assertThatThrownBy(() -> Llama2cTokenizerFile.parse("short.bin", new byte[2])).hasMessageContaining("too short");
    }
}
