package dev.stiefel.llama.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The factory: the right tokenizer for each file name, directory or vocabulary. */
class TokenizersTest {

    @Test
    void picksTheReaderByFileName(@TempDir Path dir) throws IOException {
        Path model = SharedData.require("tokenizers/llama2/tokenizer.model");
        assertThat(Tokenizers.load(model)).isInstanceOf(SentencePieceTokenizer.class);
        assertThat(Tokenizers.load(SharedData.require("models/stories260K/tok512.bin")).vocabSize()).isEqualTo(512);
        Files.copy(model, dir.resolve("tokenizer.model"));
        assertThat(Tokenizers.load(dir).encode("Hello world", true)).containsExactly(1, 15043, 3186);
        Files.writeString(dir.resolve("tokenizer.json"), TokenizerJsonBuilder.JSON.writeValueAsString(TokenizerJsonBuilder.byteLevel().root));
        assertThat(Tokenizers.load(dir)).as("tokenizer.json is preferred").isInstanceOf(BpeTokenizer.class);
        Files.writeString(dir.resolve("vocab.txt"), "x");
        assertThatThrownBy(() -> Tokenizers.load(dir.resolve("vocab.txt"))).hasMessageContaining("vocab.txt").hasMessageContaining("unknown tokenizer file type");
        assertThatThrownBy(() -> Tokenizers.load(dir.resolve("missing.model"))).hasMessageContaining("missing.model");
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertThatThrownBy(() -> Tokenizers.load(empty)).hasMessageContaining("no tokenizer.json");
        Files.writeString(dir.resolve("broken.json"), "{\"model\": ");
        assertThatThrownBy(() -> Tokenizers.load(dir.resolve("broken.json"))).isInstanceOf(TokenizerFormatException.class).hasMessageContaining("broken.json");
    }

    @Test
    void sentencePieceVocabularyWithOrWithoutTokenTypes() {
        Vocabulary full = SentencePieceModelFile.load(SharedData.require("tokenizers/llama2/tokenizer.model")).vocabulary();
        // what a GGUF "llama" vocabulary carries: pieces, scores, types
        Tokenizer withTypes = Tokenizers.fromVocabulary(full);
        // without types, they are inferred (unk, control bos/eos, <0xXX> bytes)
        Tokenizer inferred = Tokenizers.fromVocabulary(new Vocabulary(Vocabulary.Kind.SENTENCEPIECE, full.tokens(), full.scores(), null,
                List.of(), full.bos(), full.eos(), full.unk(), true, true));
        for (Tokenizer t : List.of(withTypes, inferred)) {
            assertThat(t.encode(" this is 🦙.cpp", false)).containsExactly(29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223);
            assertThat(t.isSpecial(1)).isTrue();
        }
    }

    @Test
    void byteLevelVocabularyAsGgufCarriesIt() {
        // bytes 0..255 in the byte alphabet, then merges "Ġ t" -> 256, "h e" -> 257, "Ġt he" -> 258; 259 a control token
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(String.valueOf(ByteLevel.toChar(b)));
        tokens.addAll(List.of("Ġt", "he", "Ġthe", "<|endoftext|>"));
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, Vocabulary.NORMAL);
        types[259] = Vocabulary.CONTROL;
        Vocabulary v = new Vocabulary(Vocabulary.Kind.BYTE_LEVEL_BPE, tokens, null, types, List.of("Ġ t", "h e", "Ġt he"),
                259, 259, -1, false, false);
        Tokenizer t = Tokenizers.fromVocabulary(v, "gpt2");
        assertThat(t.encode("the the<|endoftext|>", false)).containsExactly('t', 257, 258, 259);
        assertThat(t.decode(new int[]{'t', 257, 258, 259})).isEqualTo("the the");
        assertThat(t.addsBosByDefault()).isFalse();
        assertThat(t.encode("the", true)).containsExactly(259, 't', 257);
        assertThat(t.eos()).isEqualTo(259);
        assertThat(t.id("Ġthe")).isEqualTo(258);
        assertThat(t.token(258)).isEqualTo("Ġthe");
        assertThatThrownBy(() -> Tokenizers.fromVocabulary(v, "falcon")).hasMessageContaining("falcon");
    }
}
