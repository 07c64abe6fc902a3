package dev.stiefel.llama.io;

import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.llama.tokenizer.Vocabulary;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class LoadedModelTest {

    /** A byte-level vocabulary in which "12" is one token after the merge "1 2". */
    private static Vocabulary digits() {
        return new Vocabulary(Vocabulary.Kind.BYTE_LEVEL_BPE, List.of("1", "2", "12"), null, null, List.of("1 2"), -1, -1, -1, false, false);
    }

    /**
     * The pre-tokenizer a GGUF names reaches the tokenizer: Qwen's regex splits every digit on its own ("qwen2" in
     * llama.cpp's llama-vocab.cpp), GPT-2's keeps a number whole, so "12" is two tokens for one and one for the other.
     */
    @Test void theFilesPreTokenizerDecidesHowTextIsSplit() {
        Tokenizer qwen = new LoadedModel(null, digits(), ModelFormat.GGUF, null, "qwen2").embeddedTokenizer();
        Tokenizer gpt2 = new LoadedModel(null, digits(), ModelFormat.GGUF, null).embeddedTokenizer();
        assertThat(qwen.encode("12", false)).containsExactly(0, 1);
        assertThat(gpt2.encode("12", false)).containsExactly(2);
        assertThat(new LoadedModel(null, null, ModelFormat.HUGGING_FACE, null).embeddedTokenizer()).isNull();
    }
}
