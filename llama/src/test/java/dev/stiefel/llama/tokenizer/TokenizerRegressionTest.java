package dev.stiefel.llama.tokenizer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * The tokenizer cases of issue 20's table, each as the file that once hung or crashed a reader: now a
 * {@link TokenizerFormatException} naming the file, the JSON field or byte offset and what was expected.
 */
class TokenizerRegressionTest {
    @TempDir Path dir;

    private Path write(TokenizerJsonBuilder b) throws IOException {
        Path p = dir.resolve("tokenizer.json");
        Files.write(p, TokenizerJsonBuilder.JSON.writeValueAsBytes(b.root));
        return p;
    }

    private static TokenizerJsonBuilder abc() {
        TokenizerJsonBuilder b = TokenizerJsonBuilder.byteLevel();
        b.merge("a", "b");
        return b;
    }

    /** A 100,000-character Replace pattern took 22 s in Pattern.compile (its Boyer-Moore table is quadratic). */
    @Test void longReplacePatternIsRefusedQuickly() throws IOException {
        TokenizerJsonBuilder b = abc();
        ObjectNode replace = b.root.putObject("normalizer").put("type", "Replace").put("content", "x");
        replace.putObject("pattern").put("String", "a".repeat(100_000));
        Path p = write(b);
        assertTimeoutPreemptively(Duration.ofSeconds(5), () ->
                assertThatThrownBy(() -> TokenizerJsonFile.load(p)).isInstanceOf(TokenizerFormatException.class)
                        .hasMessageStartingWith(p.toString()).hasMessageContaining("normalizer.pattern")
                        .hasMessageContaining("100000 characters, expected at most " + FilePattern.MAX_PATTERN_CHARS));
    }

    /** A regex that backtracks exponentially stops at its step budget instead of running for ever. */
    @Test void catastrophicRegexStopsAtItsStepBudget() throws IOException {
        TokenizerJsonBuilder b = abc();
        ObjectNode split = b.root.putObject("pre_tokenizer").put("type", "Split").put("behavior", "Isolated");
        split.putObject("pattern").put("Regex", "((a+)+)+c"); // java.util.regex memoizes (a+)+, not this
        Path p = write(b);
        BpeTokenizer t = TokenizerJsonFile.load(p);
        assertThat(t.encode("ab", false)).hasSize(1); // an ordinary text splits as before
        assertTimeoutPreemptively(Duration.ofSeconds(10), () ->
                assertThatThrownBy(() -> t.encode("a".repeat(60) + "!", false)).isInstanceOf(TokenizerFormatException.class)
                        .hasMessageStartingWith(p.toString()).hasMessageContaining("pre_tokenizer.pattern")
                        .hasMessageContaining("catastrophic backtracking"));
    }

    /** An array replaced by an object (added_tokens, merges, normalizers, pretokenizers) was a NullPointerException. */
    @Test void objectsWhereArraysBelongNameTheField() throws IOException {
        String[][] cases = {{"added_tokens", "added_tokens"}, {"merges", "model.merges"}, {"normalizers", "normalizer.normalizers"},
                {"pretokenizers", "pre_tokenizer.pretokenizers"}, {"decoders", "decoder.decoders"}, {"single", "post_processor.single"}};
        for (String[] c : cases) {
            TokenizerJsonBuilder b = abc();
            ObjectNode notAnArray = TokenizerJsonBuilder.JSON.createObjectNode();
            notAnArray.putObject("0").put("type", "Lowercase");
            switch (c[0]) {
                case "added_tokens" -> b.root.set("added_tokens", notAnArray);
                case "merges" -> b.model.set("merges", notAnArray);
                case "normalizers" -> b.root.putObject("normalizer").put("type", "Sequence").set("normalizers", notAnArray);
                case "pretokenizers" -> b.root.putObject("pre_tokenizer").put("type", "Sequence").set("pretokenizers", notAnArray);
                case "decoders" -> b.root.putObject("decoder").put("type", "Sequence").set("decoders", notAnArray);
                default -> b.root.putObject("post_processor").put("type", "TemplateProcessing").set("single", notAnArray);
            }
            Path p = write(b);
            assertThatThrownBy(() -> TokenizerJsonFile.load(p)).as(c[0]).isInstanceOf(TokenizerFormatException.class)
                    .hasMessageStartingWith(p.toString()).hasMessageContaining(c[1] + ": expected an array, got OBJECT");
        }
    }

    /** The post-processor's special-token ids were not checked: the file loaded and decoding failed later. */
    @Test void postProcessorIdsOutsideTheVocabularyAreRefusedAtLoad() throws IOException {
        TokenizerJsonBuilder b = abc();
        int bos = b.added("<s>", true);
        ObjectNode post = b.root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        post.putObject("special_tokens").putObject("<s>").put("id", "<s>").putArray("ids").add(bos).add(99_999);
        Path p = write(b);
        assertThatThrownBy(() -> TokenizerJsonFile.load(p)).isInstanceOf(TokenizerFormatException.class)
                .hasMessageStartingWith(p.toString()).hasMessageContaining("post_processor.special_tokens['<s>'].ids")
                .hasMessageContaining("id 99999 is not a token of the " + (bos + 1) + "-token vocabulary");
    }

    /** A token id far past the entries no longer sizes the vocabulary list (it took ids up to 10 million). */
    @Test void aLoneHugeTokenIdIsRefused() throws IOException {
        TokenizerJsonBuilder b = abc();
        b.vocab.put("far", 5_000_000);
        Path p = write(b);
        assertThatThrownBy(() -> TokenizerJsonFile.load(p)).isInstanceOf(TokenizerFormatException.class)
                .hasMessageStartingWith(p.toString()).hasMessageContaining("model.vocab['far']").hasMessageContaining("token id 5000000");
    }

    /** tokenizer.model: a byte piece that is not <0xXX> threw IllegalArgumentException naming neither file nor offset. */
    @Test void sentencePieceCorruptBytePieceNamesFileAndOffset() throws IOException {
        ProtoWriter model = new ProtoWriter();
        model.message(1, ProtoWriter.piece("<unk>", 0, Vocabulary.UNKNOWN));
        model.message(1, ProtoWriter.piece("<s>", 0, Vocabulary.CONTROL));
        model.message(1, ProtoWriter.piece("</s>", 0, Vocabulary.CONTROL));
        int offset = model.toByteArray().length + 2; // the fourth piece's message starts after its tag and length
        model.message(1, ProtoWriter.piece("<0xZZ>", 0, Vocabulary.BYTE));
        model.message(2, new ProtoWriter().varint(3, 2));
        Path p = dir.resolve("tokenizer.model");
        Files.write(p, model.toByteArray());
        assertThatThrownBy(() -> SentencePieceModelFile.load(p)).isInstanceOf(TokenizerFormatException.class)
                .hasMessageStartingWith(p.toString()).hasMessageContaining("byte offset " + offset)
                .hasMessageContaining("piece 3 '<0xZZ>' has type BYTE but is not a <0xXX> piece");
    }

    /** A SentencePiece model with neither byte pieces nor an unknown piece was an IllegalArgumentException. */
    @Test void sentencePieceWithoutFallbackNamesTheFile() throws IOException {
        ProtoWriter model = new ProtoWriter();
        model.message(1, ProtoWriter.piece("a", 0, Vocabulary.NORMAL));
        model.message(2, new ProtoWriter().varint(3, 2).varint(40, -1).varint(41, -1).varint(42, -1));
        Path p = dir.resolve("tokenizer.model");
        Files.write(p, model.toByteArray());
        assertThatThrownBy(() -> SentencePieceModelFile.load(p)).isInstanceOf(TokenizerFormatException.class)
                .hasMessageStartingWith(p.toString()).hasMessageContaining("neither byte pieces nor an unknown piece");
    }
}
