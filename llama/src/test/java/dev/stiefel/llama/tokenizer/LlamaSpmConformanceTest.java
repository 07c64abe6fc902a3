package dev.stiefel.llama.tokenizer;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * llama.cpp's tokenizer conformance cases for the LLaMA SentencePiece vocabulary (tests/test-tokenizer-0 with
 * ggml-vocab-llama-spm.gguf): every input must give exactly llama.cpp's ids. The cases are read as test-tokenizer-0
 * reads them: inputs are separated by "\n__ggml_vocab_test__\n" (so an input keeps its own inner and leading newlines
 * but not the one before the separator), the .out file has one line of ids per input, and no BOS is added
 * (add_special = false). The same 32K vocabulary is read from each file this test knows; a new source is one line in
 * {@link #sources()}.
 */
class LlamaSpmConformanceTest {
    private static final String CASES = "tokenizers/llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf";

    static Stream<Arguments> sources() {
        return Stream.of(
                source("tokenizers/llama2/tokenizer.model", SentencePieceModelFile::load),
                source("tokenizers/llama2/tokenizer.bin", Llama2cTokenizerFile::load),
                // the vocabulary embedded in the test GGUF itself, read by the GGUF loader
                source(CASES, LlamaSpmConformanceTest::fromGguf)
        );
    }

    private static Tokenizer fromGguf(Path p) {
        try (dev.stiefel.llama.io.GgufFile f = dev.stiefel.llama.io.GgufFile.open(p)) {
            return Tokenizers.fromVocabulary(dev.stiefel.llama.io.GgufLoader.vocabulary(f));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static Arguments source(String relative, Function<Path, Tokenizer> loader) {
        return Arguments.of(relative, loader);
    }

    record Case(String input, int[] expected) {}

    static List<Case> cases() throws IOException {
        String inputs = Files.readString(SharedData.require(CASES + ".inp"), StandardCharsets.UTF_8);
        List<String> outputs = Files.readAllLines(SharedData.require(CASES + ".out"), StandardCharsets.UTF_8);
        String separator = "\n__ggml_vocab_test__\n";
        List<String> split = new ArrayList<>();
        for (int pos = 0; pos < inputs.length(); ) {
            int next = inputs.indexOf(separator, pos);
            if (next < 0) {
                split.add(inputs.substring(pos));
                break;
            }
            split.add(inputs.substring(pos, next));
            pos = next + separator.length();
        }
        assertThat(split).as("inputs vs lines of expected ids").hasSameSizeAs(outputs);
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < split.size(); i++) {
            String line = outputs.get(i).strip();
            int[] ids = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" ")).mapToInt(Integer::parseInt).toArray();
            cases.add(new Case(split.get(i), ids));
        }
        return cases;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sources")
    void everyCaseMatchesLlamaCpp(String relative, Function<Path, Tokenizer> loader) throws IOException {
        List<Case> cases = cases();
        Tokenizer tokenizer = loader.apply(SharedData.require(relative));
        assertThat(cases).hasSize(46);
        List<String> failures = new ArrayList<>();
        for (Case c : cases) {
            int[] got = tokenizer.encode(c.input(), false);
            if (!Arrays.equals(got, c.expected()))
                failures.add("input " + escape(c.input()) + "\n  expected " + Arrays.toString(c.expected()) + "\n  got      " + Arrays.toString(got));
            String back = tokenizer.decode(got);
            if (!back.equals(c.input())) failures.add("round trip of " + escape(c.input()) + " gave " + escape(back));
        }
        assertThat(failures).as(relative).isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sources")
    void bosIsPrependedOnlyWhenAsked(String relative, Function<Path, Tokenizer> loader) {
        Tokenizer tokenizer = loader.apply(SharedData.require(relative));
        assertThat(tokenizer.bos()).isEqualTo(1);
        assertThat(tokenizer.eos()).isEqualTo(2);
        assertThat(tokenizer.addsBosByDefault()).isTrue();
        assertThat(tokenizer.encode("Hello world", true)).containsExactly(1, 15043, 3186);
        assertThat(tokenizer.encode("Hello world")).containsExactly(1, 15043, 3186);
        assertThat(tokenizer.encode("", true)).containsExactly(1);
        assertThat(tokenizer.decode(new int[]{1, 15043, 3186, 2})).isEqualTo("Hello world");
    }

    static String escape(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") + "\"";
    }
}
