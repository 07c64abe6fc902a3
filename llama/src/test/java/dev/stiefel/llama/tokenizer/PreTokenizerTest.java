package dev.stiefel.llama.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** The pre-tokenizer splits, worked out by hand from each regex's alternatives. */
class PreTokenizerTest {

    private static List<String> split(PreTokenizer p, String text) {
        List<String> out = new ArrayList<>();
        p.split(text, true, out);
        return out;
    }

    private static List<String> gpt2(String text) { return split(new PreTokenizer.Split(PreTokenizer.GPT2, PreTokenizer.Behavior.ISOLATED, false), text); }

    private static List<String> llama3(String text) { return split(new PreTokenizer.Split(PreTokenizer.LLAMA3, PreTokenizer.Behavior.ISOLATED, false), text); }

    private static List<String> qwen2(String text) { return split(new PreTokenizer.Split(PreTokenizer.QWEN2, PreTokenizer.Behavior.ISOLATED, false), text); }

    /** Qwen2/Qwen3's regex: LLaMA-3's alternatives, except \p{N} alone, so every digit is its own piece. */
    @Test
    void qwenSplitsEveryDigitAndOtherwiseSplitsLikeLlama3() {
        assertThat(qwen2("12345 678")).containsExactly("1", "2", "3", "4", "5", " ", "6", "7", "8");
        assertThat(qwen2("v2.0")).containsExactly("v", "2", ".", "0");
        assertThat(qwen2("I'LL we'Ve")).containsExactly("I", "'LL", " we", "'Ve");
        assertThat(qwen2("Hello, world!")).containsExactly("Hello", ",", " world", "!");
        assertThat(qwen2("(hello)")).containsExactly("(hello", ")");
        assertThat(qwen2("x.\n\ny")).containsExactly("x", ".\n\n", "y");
        assertThat(qwen2("a   b")).containsExactly("a", "  ", " b");
        // one non-letter, non-digit may lead a letter run: the full-width comma joins the next word, as "(" does
        assertThat(qwen2("你好，世界")).containsExactly("你好", "，世界");
        for (String text : new String[]{"Hello, world!", "(hello)", "x.\n\ny", "a   b", "I'LL"})
            assertThat(qwen2(text)).as(text).isEqualTo(llama3(text)); // no digits: the two regexes agree
    }

    @Test
    void contractions() {
        assertThat(gpt2("I'm don't we'll they've she'd it's you're"))
                .containsExactly("I", "'m", " don", "'t", " we", "'ll", " they", "'ve", " she", "'d", " it", "'s", " you", "'re");
        // GPT-2's contractions are lower case only; LLaMA-3's are case-insensitive
        assertThat(gpt2("I'LL")).containsExactly("I", "'", "LL");
        assertThat(llama3("I'LL")).containsExactly("I", "'LL");
        assertThat(llama3("we'Ve a'lL")).containsExactly("we", "'Ve", " a", "'lL");
    }

    @Test
    void digits() {
        // GPT-2: a digit run with one leading space; LLaMA-3: groups of at most three, no leading space
        assertThat(gpt2("12345 678")).containsExactly("12345", " 678");
        assertThat(llama3("12345 678")).containsExactly("123", "45", " ", "678");
        assertThat(llama3("3.14")).containsExactly("3", ".", "14");
    }

    @Test
    void whitespaceRuns() {
        // \s+(?!\S) takes a run of spaces except the last, which then leads the next word
        assertThat(gpt2("a   b")).containsExactly("a", "  ", " b");
        assertThat(llama3("a   b")).containsExactly("a", "  ", " b");
        assertThat(gpt2("a  ")).containsExactly("a", "  ");
        assertThat(gpt2("Hello\n\nworld")).containsExactly("Hello", "\n", "\n", "world");
        assertThat(llama3("Hello\n\nworld")).containsExactly("Hello", "\n\n", "world");
        assertThat(llama3("x.\n\ny")).containsExactly("x", ".\n\n", "y");
        // Unicode whitespace is whitespace (U+2003 EM SPACE), as in the reference regex engines
        assertThat(gpt2("a\u2003\u2003b")).containsExactly("a", "\u2003", "\u2003", "b");
    }

    @Test
    void unicodeLettersAndPunctuation() {
        assertThat(gpt2("naïve café Ωmega 中文")).containsExactly("naïve", " café", " Ωmega", " 中文");
        assertThat(gpt2("Hello, world!!")).containsExactly("Hello", ",", " world", "!!");
        // LLaMA-3 lets one non-letter lead a letter run
        assertThat(llama3("(hello)")).containsExactly("(hello", ")");
        assertThat(gpt2("(hello)")).containsExactly("(", "hello", ")");
        assertThat(gpt2("🦙.cpp")).containsExactly("🦙.", "cpp");
    }

    @Test
    void splitBehaviours() {
        Pattern dash = Pattern.compile("-");
        String s = "the-final--countdown";
        assertThat(split(new PreTokenizer.Split(dash, PreTokenizer.Behavior.REMOVED, false), s)).containsExactly("the", "final", "countdown");
        assertThat(split(new PreTokenizer.Split(dash, PreTokenizer.Behavior.ISOLATED, false), s)).containsExactly("the", "-", "final", "-", "-", "countdown");
        assertThat(split(new PreTokenizer.Split(dash, PreTokenizer.Behavior.MERGED_WITH_PREVIOUS, false), s)).containsExactly("the-", "final-", "-", "countdown");
        assertThat(split(new PreTokenizer.Split(dash, PreTokenizer.Behavior.MERGED_WITH_NEXT, false), s)).containsExactly("the", "-final", "-", "-countdown");
        assertThat(split(new PreTokenizer.Split(dash, PreTokenizer.Behavior.CONTIGUOUS, false), s)).containsExactly("the", "-", "final", "--", "countdown");
        // inverted: the pattern matches the pieces to keep, and the rest are the delimiters
        assertThat(split(new PreTokenizer.Split(Pattern.compile("[a-z]+"), PreTokenizer.Behavior.REMOVED, true), s)).containsExactly("the", "final", "countdown");
    }

    @Test
    void digitsSplitter() {
        assertThat(split(new PreTokenizer.Digits(true), "abc123 4")).containsExactly("abc", "1", "2", "3", " ", "4");
        assertThat(split(new PreTokenizer.Digits(false), "abc123 4")).containsExactly("abc", "123", " ", "4");
    }

    @Test
    void byteLevelWritesPiecesInTheByteAlphabet() {
        assertThat(split(new PreTokenizer.ByteLevelStep(false, true), "Hello world é")).containsExactly("Hello", "Ġworld", "ĠÃ©");
        assertThat(split(new PreTokenizer.ByteLevelStep(true, false), "hi there")).containsExactly("ĠhiĠthere");
        assertThat(split(new PreTokenizer.ByteLevelStep(true, true), " hi")).containsExactly("Ġhi");
        // SmolLM / StarCoder: single digits first, then GPT-2's split
        PreTokenizer smol = new PreTokenizer.Sequence(List.of(new PreTokenizer.Digits(true), new PreTokenizer.ByteLevelStep(false, true)));
        assertThat(split(smol, "abc 12")).containsExactly("abc", "Ġ", "1", "2");
        assertThat(smol.byteLevel()).isTrue();
    }

    @Test
    void metaspace() {
        PreTokenizer always = new PreTokenizer.Metaspace('▁', PreTokenizer.PrependScheme.ALWAYS, true);
        assertThat(split(always, "Hey friend")).containsExactly("▁Hey", "▁friend");
        // "  a" is "▁▁a", which already starts with ▁, so nothing is prepended
        assertThat(split(always, "  a")).containsExactly("▁", "▁a");
        assertThat(split(always, "a  b")).containsExactly("▁a", "▁", "▁b");
        PreTokenizer first = new PreTokenizer.Metaspace('▁', PreTokenizer.PrependScheme.FIRST, false);
        assertThat(split(first, "a b")).containsExactly("▁a▁b");
        List<String> later = new ArrayList<>();
        first.split("a b", false, later); // text after an added token: no prefix with the "first" scheme
        assertThat(later).containsExactly("a▁b");
    }

    @Test
    void ggufNamesMapToThePreTokenizerLlamaCppUses() {
        assertThat(split(PreTokenizer.forGgufName("llama-bpe"), "I'LL 12345")).containsExactly("I", "'LL", "Ġ", "123", "45");
        assertThat(split(PreTokenizer.forGgufName(null), "I'LL 12345")).containsExactly("I", "'", "LL", "Ġ12345");
        assertThat(split(PreTokenizer.forGgufName("smollm"), "x 12")).containsExactly("x", "Ġ", "1", "2");
        assertThat(split(PreTokenizer.forGgufName("qwen2"), "I'LL 12345")).containsExactly("I", "'LL", "Ġ", "1", "2", "3", "4", "5");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> PreTokenizer.forGgufName("chatglm-bpe"))
                .hasMessageContaining("chatglm-bpe").hasMessageContaining("qwen2");
    }
}
