package dev.stiefel.llama.tokenizer;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.GgufFile;
import dev.stiefel.llama.io.GgufLoader;
import dev.stiefel.llama.io.GgufModelWriter;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.testing.RandomModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A tokenizer.json's byte-level vocabulary in a GGUF file: written with the tokenizer.ggml.pre name llama.cpp knows its
 * split by (llama-vocab.cpp), laid out as convert_hf_to_gguf.py lays it out, and read back as a tokenizer that encodes
 * and decodes as the original does.
 */
class GgufVocabularyTest {
    @TempDir Path dir;

    /** Qwen's and LLaMA-3's files, with merges that digits, letters and spaces exercise and three special tokens. */
    private static BpeTokenizer tokenizer(String regex) {
        TokenizerJsonBuilder b = TokenizerJsonBuilder.byteLevel().splitThenByteLevel(regex);
        b.merge("1", "2");
        b.merge("12", "3");
        b.merge("h", "i");
        b.merge("Ġ", "g");
        b.merge("Ġg", "o");
        b.merge("'", "L");
        b.added("<|endoftext|>", true);
        b.added("<|im_start|>", true);
        b.added("<tool>", false);
        return b.build();
    }

    @ParameterizedTest
    @CsvSource({"QWEN2, qwen2", "LLAMA, llama-bpe"})
    void aTokenizerJsonVocabularyRoundTripsThroughGgufWithItsPreTokenizer(String which, String expectedPre) throws IOException {
        BpeTokenizer t = tokenizer(which.equals("QWEN2") ? TokenizerJsonBuilder.QWEN2_REGEX : TokenizerJsonBuilder.LLAMA3_REGEX);
        assertThat(t.ggufPreTokenizer()).isEqualTo(expectedPre);
        int rows = t.vocabSize() + 3; // the embedding has rows no token names, as Qwen's do
        LlamaConfig c = RandomModels.config(32, 48, 1, 4, 2, rows, dev.stiefel.tensor.Rope.Layout.HALF, true);
        if (which.equals("QWEN2")) c = RandomModels.qwen(c, LlamaConfig.Architecture.QWEN2);
        LlamaWeights w = RandomModels.random(c, 3);
        Path p = dir.resolve("m.gguf");
        GgufModelWriter.write(w, t.vocabulary(rows), t.ggufPreTokenizer(), p, 0, name -> GgmlType.F32, Map.of());

        int special = t.id("<|im_start|>"), user = t.id("<tool>"), pad = t.vocabSize() + 1;
        try (GgufFile f = GgufFile.open(p)) {
            var m = f.metadata();
            assertThat(m.string("tokenizer.ggml.model")).isEqualTo("gpt2");
            assertThat(m.string("tokenizer.ggml.pre")).isEqualTo(expectedPre);
            List<String> tokens = m.strings("tokenizer.ggml.tokens");
            assertThat(tokens).hasSize(rows);
            assertThat(tokens.get(pad)).isEqualTo("[PAD" + pad + "]");
            int[] types = m.ints("tokenizer.ggml.token_type");
            assertThat(new int[]{types['a'], types[special], types[user], types[pad]})
                    .containsExactly(Vocabulary.NORMAL, Vocabulary.CONTROL, Vocabulary.USER_DEFINED, Vocabulary.UNUSED);
            assertThat(m.strings("tokenizer.ggml.merges")).startsWith("1 2", "12 3");
        }
        try (LoadedModel m = GgufLoader.load(p)) {
            assertThat(m.preTokenizer()).isEqualTo(expectedPre);
            Tokenizer back = m.embeddedTokenizer();
            assertThat(back.eos()).isEqualTo(t.eos()).isEqualTo(t.id("<|endoftext|>"));
            assertThat(back.bos()).isEqualTo(t.bos());
            for (String text : List.of("<|im_start|>user\nhi 12345<|endoftext|>", "I'LL go, 2024!\n\n  go<tool>x", "héllo wörld 3.14 🦙", "123123")) {
                assertThat(back.encode(text, false)).as(text).isEqualTo(t.encode(text, false));
                assertThat(back.decode(back.encode(text, false))).isEqualTo(t.decode(t.encode(text, false)));
            }
            // the split matters: Qwen's makes every digit a word (1 2 3 never merge), LLaMA-3's keeps groups of three
            assertThat(back.encode("123", false)).hasSize(which.equals("QWEN2") ? 3 : 1);
        }
    }

    @Test void preTokenizerNamesAreFoundFromTheSplitItself() {
        for (String name : PreTokenizer.GGUF_NAMES) assertThat(PreTokenizer.ggufName(PreTokenizer.forGgufName(name))).isEqualTo(name);
        // aliases llama.cpp reads the same way get its one name; "default" is GPT-2's split here, so "gpt-2"
        assertThat(PreTokenizer.ggufName(PreTokenizer.forGgufName("llama3"))).isEqualTo("llama-bpe");
        assertThat(PreTokenizer.ggufName(PreTokenizer.forGgufName("deepseek-r1-qwen"))).isEqualTo("qwen2");
        assertThat(PreTokenizer.ggufName(PreTokenizer.forGgufName("default"))).isEqualTo("gpt-2");
        assertThat(PreTokenizer.ggufName(new PreTokenizer.Sequence(List.of(new PreTokenizer.ByteLevelStep(false, true))))).isEqualTo("gpt-2");
        assertThat(TokenizerJsonBuilder.byteLevel().build().ggufPreTokenizer()).isEqualTo("gpt-2");
        // no llama.cpp name: a prefix space, a regex one quantifier away from Qwen's, SentencePiece's Metaspace
        assertThat(PreTokenizer.ggufName(new PreTokenizer.ByteLevelStep(true, true))).isNull();
        assertThat(tokenizer(TokenizerJsonBuilder.QWEN2_REGEX.replace("\\p{N}|", "\\p{N}{1,2}|")).ggufPreTokenizer()).isNull();
        assertThat(PreTokenizer.ggufName(new PreTokenizer.Metaspace('▁', PreTokenizer.PrependScheme.ALWAYS, true))).isNull();
    }

    @Test void whatLlamaCppCouldNotLoadIsRefused() {
        BpeTokenizer t = tokenizer(TokenizerJsonBuilder.QWEN2_REGEX);
        assertThatThrownBy(() -> t.vocabulary(t.vocabSize() - 1)).hasMessageContainingAll(t.vocabSize() + " tokens", "embedding rows");
        LlamaWeights w = RandomModels.random(RandomModels.config(32, 48, 1, 4, 2, 300, dev.stiefel.tensor.Rope.Layout.INTERLEAVED, true), 3);
        Path p = dir.resolve("x.gguf");
        assertThatThrownBy(() -> GgufModelWriter.write(w, t.vocabulary(t.vocabSize()), "qwen2", p, 0, name -> GgmlType.F32, Map.of()))
                .hasMessageContainingAll(t.vocabSize() + " tokens", "300 embedding rows");
        List<String> pieces = java.util.stream.IntStream.range(0, 300).mapToObj(i -> "▁t" + i).toList();
        Vocabulary spm = new Vocabulary(Vocabulary.Kind.SENTENCEPIECE, pieces, new float[300], null, List.of(), 1, 2, 0, true, true);
        assertThatThrownBy(() -> GgufModelWriter.write(w, spm, "qwen2", p, 0, name -> GgmlType.F32, Map.of()))
                .hasMessageContainingAll("tokenizer.ggml.pre", "SentencePiece");
        assertThat(p).doesNotExist();
    }
}
