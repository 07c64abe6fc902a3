package dev.stiefel.llama.tokenizer;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.stiefel.llama.tokenizer.TokenizerJsonBuilder.JSON;
import static dev.stiefel.llama.tokenizer.TokenizerJsonBuilder.node;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Byte-level and SentencePiece-style BPE from small tokenizer.json files; ids worked out by hand in each test. */
class BpeTokenizerTest {

    /** Bytes are ids 0..255 (so 't' is 116), then: 256 Ġt, 257 he, 258 Ġthe, 259 bc, 260 ab, 261 aa, in rank order. */
    private static TokenizerJsonBuilder gpt2Like() {
        TokenizerJsonBuilder b = TokenizerJsonBuilder.byteLevel();
        b.merge("Ġ", "t");
        b.merge("h", "e");
        b.merge("Ġt", "he");
        b.merge("b", "c");
        b.merge("a", "b");
        b.merge("a", "a");
        return b;
    }

    @Test
    void mergesByRankWithinWords() {
        BpeTokenizer t = gpt2Like().build();
        assertThat(t.encode("the", false)).containsExactly('t', 257);
        // Ġ t h e: Ġt (rank 0), then he (1), then Ġt+he (2)
        assertThat(t.encode(" the", false)).containsExactly(258);
        assertThat(t.encode("the the", false)).containsExactly('t', 257, 258);
        // rank decides, not position: b c (rank 3) beats a b (rank 4)
        assertThat(t.encode("abc", false)).containsExactly('a', 259);
        // equal ranks: leftmost first
        assertThat(t.encode("aaa", false)).containsExactly(261, 'a');
        // merges never cross the pre-tokenizer's word boundaries: "ab" and "c" are split by the space
        assertThat(t.encode("ab c", false)).containsExactly(260, ' ', 'c'); // ' ' is byte 32, written Ġ
    }

    @Test
    void bytesOutsideAsciiAndDecoding() {
        BpeTokenizer t = gpt2Like().build();
        // é = C3 A9 -> ids 0xC3, 0xA9; 🦙 = F0 9F A6 99
        assertThat(t.encode("é", false)).containsExactly(0xC3, 0xA9);
        assertThat(t.encode("🦙", false)).containsExactly(0xF0, 0x9F, 0xA6, 0x99);
        for (String s : new String[]{"the the", " aé\n\n🦙 x  ", "", "Ω 12,345 it's"})
            assertThat(t.decode(t.encode(s, false))).isEqualTo(s);
        StreamDecoder stream = t.streamDecoder(true);
        assertThat(stream.next(0xF0) + stream.next(0x9F) + stream.next(0xA6)).isEmpty();
        assertThat(stream.next(0x99)).isEqualTo("🦙");
        assertThat(stream.next(258)).isEqualTo(" the"); // no dummy prefix to drop in byte-level BPE
    }

    @Test
    void addedTokensAreMatchedBeforeSplittingAndSpecialOnesDecodeToNothing() {
        TokenizerJsonBuilder b = gpt2Like();
        int bos = b.added("<|bos|>", true), eot = b.added("<|eot|>", true), tool = b.added("<tool>", false);
        int mask = b.added("<mask>", false);
        b.lastAdded().put("lstrip", true).put("rstrip", true);
        int word = b.added("<w>", false);
        b.lastAdded().put("single_word", true);
        BpeTokenizer t = b.build();
        assertThat(t.encode("<|bos|>the<|eot|>", false)).containsExactly(bos, 't', 257, eot);
        assertThat(t.decode(new int[]{bos, 't', 257, eot})).isEqualTo("the");
        assertThat(t.isSpecial(bos)).isTrue();
        assertThat(t.isSpecial(tool)).isFalse();
        assertThat(t.encode("a<tool>b", false)).containsExactly('a', tool, 'b');
        assertThat(t.decode(new int[]{'a', tool, 'b'})).isEqualTo("a<tool>b");
        // lstrip/rstrip: the spaces around <mask> belong to it
        assertThat(t.encode("a <mask> b", false)).containsExactly('a', mask, 'b');
        // single_word: not inside a word
        assertThat(t.encode("x<w>", false)).containsExactly('x', '<', 'w', '>');
        assertThat(t.encode(" <w> ", false)).containsExactly(' ', word, ' ');
        // the longest added token at a position wins
        TokenizerJsonBuilder c = gpt2Like();
        int shortId = c.added("<|a", true), longId = c.added("<|a|>", true);
        assertThat(c.build().encode("<|a|><|a", false)).containsExactly(longId, shortId);
    }

    @Test
    void templateProcessingAndTokenizerConfigSetBosAndEos(@TempDir Path dir) throws IOException {
        TokenizerJsonBuilder b = gpt2Like();
        int bos = b.added("<|bos|>", true), eot = b.added("<|eot|>", true);
        ObjectNode template = b.root.putObject("post_processor").put("type", "TemplateProcessing");
        ArrayNode single = template.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<|bos|>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        template.putObject("special_tokens").putObject("<|bos|>").put("id", "<|bos|>").putArray("ids").add(bos);
        BpeTokenizer t = b.build();
        assertThat(t.bos()).isEqualTo(bos);
        assertThat(t.addsBosByDefault()).isTrue();
        assertThat(t.encode("the")).containsExactly(bos, 't', 257);
        assertThat(t.encode("the", false)).containsExactly('t', 257);
        assertThat(t.eos()).isEqualTo(-1);

        // through files: tokenizer_config.json beside tokenizer.json names eos and turns the default BOS off
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(b.root));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": {\"content\": \"<|eot|>\"}, \"add_bos_token\": false}");
        Tokenizer loaded = Tokenizers.load(dir);
        assertThat(loaded.eos()).isEqualTo(eot);
        assertThat(loaded.bos()).isEqualTo(bos);
        assertThat(loaded.addsBosByDefault()).isFalse();
        assertThat(loaded.encode("the", true)).containsExactly(bos, 't', 257);
    }

    @Test
    void ignoreMergesEmitsAWordThatIsAToken() {
        TokenizerJsonBuilder b = gpt2Like();
        int abc = b.token("abc"); // no merge builds it: b c then a bc has no rule
        assertThat(b.build().encode("abc", false)).containsExactly('a', 259);
        b.model.put("ignore_merges", true);
        assertThat(b.build().encode("abc", false)).containsExactly(abc);
    }

    @Test
    void llama3StyleSplitRegexKeepsDigitGroupsApart() {
        TokenizerJsonBuilder b = TokenizerJsonBuilder.byteLevel();
        int m34 = b.merge("3", "4"), m12 = b.merge("1", "2");
        b.splitThenByteLevel(PreTokenizer.LLAMA3.pattern());
        BpeTokenizer t = b.build();
        // "12345" -> "123" "45": 3 and 4 are in different words, so the 3 4 merge cannot apply
        assertThat(t.encode("12345", false)).containsExactly(m12, '3', '4', '5');
        assertThat(t.encode("345", false)).containsExactly(m34, '5');
        assertThat(t.decode(t.encode("I'LL 12345\n\n", false))).isEqualTo("I'LL 12345\n\n");
    }

    /**
     * A Qwen2/Qwen2.5/Qwen3 style tokenizer.json: NFC normalizer, Split with the regex as Qwen's file spells it then
     * ByteLevel without its own regex, ByteLevel post-processor (no BOS), special added tokens matched whole in raw text.
     * Expected ids follow the tokenizers library's documented rules: added tokens are found before normalization and
     * pre-tokenization, NFC composes "e" + U+0301 into "é" (bytes C3 A9), every digit is a word of its own.
     */
    @Test
    void qwenStyleTokenizerJson() {
        TokenizerJsonBuilder b = TokenizerJsonBuilder.byteLevel();
        int m12 = b.merge("1", "2"), mHi = b.merge("h", "i");
        b.root.putObject("normalizer").put("type", "NFC");
        b.splitThenByteLevel(TokenizerJsonBuilder.QWEN2_REGEX);
        b.root.putObject("post_processor").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", false).put("use_regex", false);
        int eot = b.added("<|endoftext|>", true), start = b.added("<|im_start|>", true), end = b.added("<|im_end|>", true);
        BpeTokenizer t = b.build();

        assertThat(t.encode("<|im_start|>user\nhi<|im_end|>", true)).as("no BOS: the post-processor adds none")
                .containsExactly(start, 'u', 's', 'e', 'r', '\n', mHi, end);
        assertThat(t.encode("a <|endoftext|>b", false)).containsExactly('a', ' ', eot, 'b');
        assertThat(t.encode("12 312", false)).as("digits are single words: 1 2 never merge").containsExactly('1', '2', ' ', '3', '1', '2');
        assertThat(t.encode("e\u0301", false)).as("NFC first").containsExactly(0xC3, 0xA9);
        assertThat(t.encode("<|im_end", false)).as("a partial special token is text").hasSize(8);
        assertThat(t.eos()).isEqualTo(eot);
        assertThat(t.isSpecial(start)).isTrue();
        String text = "<|im_start|>system\nYou are 42.<|im_end|>\n";
        assertThat(t.decode(t.encode(text, false))).as("decoding skips special tokens").isEqualTo("system\nYou are 42.\n");
        assertThat(m12).isPositive();
    }

    /** A TinyLlama / LLaMA-2 style file: characters, byte fallback, ▁ from a Prepend+Replace normalizer. */
    private static TokenizerJsonBuilder sentencePieceLike(boolean byteFallback) {
        TokenizerJsonBuilder b = new TokenizerJsonBuilder();
        b.model.put("unk_token", "<unk>").put("byte_fallback", byteFallback).put("fuse_unk", true);
        b.added("<unk>", true);
        b.added("<s>", true);
        b.added("</s>", true);
        for (int i = 0; i < 256; i++) b.token(String.format("<0x%02X>", i)); // 3..258
        b.token("▁"); // 259
        b.token("a"); // 260
        b.token("b"); // 261
        b.merge("▁", "a"); // 262
        b.merge("a", "b"); // 263
        b.merge("▁a", "b"); // 264
        ObjectNode norm = b.root.putObject("normalizer").put("type", "Sequence");
        norm.putArray("normalizers").add(node("Prepend").put("prepend", "▁"))
                .add(replace(" ", "▁"));
        ObjectNode dec = b.root.putObject("decoder").put("type", "Sequence");
        dec.putArray("decoders").add(replace("▁", " ")).add(node("ByteFallback")).add(node("Fuse"))
                .add(node("Strip").put("content", " ").put("start", 1).put("stop", 0));
        return b;
    }

    private static ObjectNode replace(String from, String to) {
        ObjectNode r = node("Replace").put("content", to);
        r.putObject("pattern").put("String", from);
        return r;
    }

    @Test
    void sentencePieceStyleJsonWithByteFallback() {
        BpeTokenizer t = sentencePieceLike(true).build();
        assertThat(t.encode("ab", false)).containsExactly(264);
        assertThat(t.encode("b a", false)).containsExactly(259, 261, 262);
        // é is not in the vocabulary: its bytes C3 A9 are ids 3 + 0xC3, 3 + 0xA9
        assertThat(t.encode("aé", false)).containsExactly(262, 3 + 0xC3, 3 + 0xA9);
        assertThat(t.decode(new int[]{262, 3 + 0xC3, 3 + 0xA9})).isEqualTo("aé");
        // the normalizer runs on each stretch between added tokens, so each gets its own ▁ (HF's legacy behaviour)
        assertThat(t.encode("a</s>b", false)).containsExactly(262, 2, 259, 261);
        assertThat(t.decode(new int[]{1, 264, 259, 264})).isEqualTo("ab  ab"); // only the first ▁ is dropped
        for (String s : new String[]{"ab", " ab  a", "aé🦙 b"}) assertThat(t.decode(t.encode(s, false))).isEqualTo(s);
    }

    @Test
    void withoutByteFallbackUnknownCharactersFuseIntoOneUnknown() {
        BpeTokenizer t = sentencePieceLike(false).build();
        assertThat(t.encode("aéé", false)).containsExactly(262, 0);
        assertThat(t.encode("éa", false)).containsExactly(259, 0, 260);
    }

    @Test
    void metaspacePreTokenizerStyleJson() {
        TokenizerJsonBuilder b = sentencePieceLike(true);
        b.root.putNull("normalizer");
        b.root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "first").put("split", false);
        b.root.putObject("decoder").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "first").put("split", false);
        BpeTokenizer t = b.build();
        assertThat(t.encode("ab", false)).containsExactly(264);
        // "first": only the start of the input gets the ▁, not the text after an added token
        assertThat(t.encode("a</s>b", false)).containsExactly(262, 2, 261);
        assertThat(t.decode(t.encode("ab a", false))).isEqualTo("ab a");
    }

    @Test
    void mergesAsPairsOfStringsAreAccepted() {
        TokenizerJsonBuilder b = TokenizerJsonBuilder.byteLevel();
        b.token("Ġ t".replace(" ", "")); // 256 "Ġt"
        b.model.putArray("merges").addArray().add("Ġ").add("t");
        assertThat(b.build().encode(" t", false)).containsExactly(256);
    }

    @Test
    void unsupportedOrBrokenFilesNameWhatIsWrong() {
        TokenizerJsonBuilder unigram = gpt2Like();
        unigram.model.put("type", "Unigram");
        assertThatThrownBy(unigram::build).isInstanceOf(TokenizerFormatException.class)
                .hasMessageContaining("test tokenizer.json").hasMessageContaining("model.type").hasMessageContaining("Unigram");
        TokenizerJsonBuilder wordPiece = gpt2Like();
        wordPiece.root.set("decoder", node("WordPiece"));
        assertThatThrownBy(wordPiece::build).hasMessageContaining("decoder.type").hasMessageContaining("WordPiece");
        TokenizerJsonBuilder bert = gpt2Like();
        bert.root.set("pre_tokenizer", node("BertPreTokenizer"));
        assertThatThrownBy(bert::build).hasMessageContaining("pre_tokenizer.type").hasMessageContaining("BertPreTokenizer");
        TokenizerJsonBuilder precompiled = gpt2Like();
        precompiled.root.set("normalizer", node("Precompiled"));
        assertThatThrownBy(precompiled::build).hasMessageContaining("normalizer.type").hasMessageContaining("Precompiled");
        TokenizerJsonBuilder badMerge = gpt2Like();
        badMerge.merges.add("Ġt zz");
        assertThatThrownBy(badMerge::build).hasMessageContaining("merge 6").hasMessageContaining("'zz'");
        TokenizerJsonBuilder badRegex = gpt2Like();
        ObjectNode split = badRegex.root.putObject("pre_tokenizer").put("type", "Split").put("behavior", "Isolated");
        split.putObject("pattern").put("Regex", "(unclosed");
        assertThatThrownBy(badRegex::build).hasMessageContaining("pre_tokenizer.pattern").hasMessageContaining("(unclosed");
        TokenizerJsonBuilder clash = gpt2Like();
        clash.added.addObject().put("id", 5).put("content", "<x>");
        assertThatThrownBy(clash::build).hasMessageContaining("added_tokens[0]").hasMessageContaining("id 5");
        TokenizerJsonBuilder affix = gpt2Like();
        affix.model.put("continuing_subword_prefix", "##");
        assertThatThrownBy(affix::build).hasMessageContaining("continuing_subword_prefix");
        TokenizerJsonBuilder noUnk = new TokenizerJsonBuilder();
        noUnk.token("a");
        assertThatThrownBy(() -> noUnk.build().encode("ab", false)).hasMessageContaining("U+0062");
    }
}
