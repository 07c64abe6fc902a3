package dev.stiefel.llama.tokenizer;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The LLaMA-2 vocabulary and stories260K's tok512 on real text from ../shared. */
class RealVocabularyTest {
    private static SentencePieceTokenizer llama;

    @BeforeAll
    static void load() {
        llama = SentencePieceModelFile.load(SharedData.require("tokenizers/llama2/tokenizer.model"));
    }

    private static String wikitext() throws IOException {
        return Files.readString(SharedData.require("data/wikitext2/wiki.test.raw"), StandardCharsets.UTF_8);
    }

    @Test
    void modelAndBinFilesHoldTheSameVocabulary() {
        Vocabulary model = llama.vocabulary();
        Vocabulary bin = Llama2cTokenizerFile.readVocabulary(SharedData.require("tokenizers/llama2/tokenizer.bin"));
        assertThat(bin.tokens()).isEqualTo(model.tokens());
        assertThat(bin.scores()).isEqualTo(model.scores());
        assertThat(bin.types()).isEqualTo(model.types());
        assertThat(List.of(bin.bos(), bin.eos(), bin.unk())).isEqualTo(List.of(model.bos(), model.eos(), model.unk()));
        assertThat(model.size()).isEqualTo(32000);
        assertThat(Arrays.stream(model.types()).filter(t -> t == Vocabulary.BYTE).count()).isEqualTo(256);
    }

    @Test
    void everyWikiTextLineRoundTrips() throws IOException {
        List<String> failures = new ArrayList<>();
        for (String line : wikitext().split("\n", -1)) {
            String back = llama.decode(llama.encode(line, true));
            if (!back.equals(line)) failures.add(line + " -> " + back);
        }
        assertThat(failures).isEmpty();
    }

    @Test
    void wholeWikiTextFileRoundTrips() throws IOException {
        String text = wikitext();
        int[] ids = llama.encode(text, true);
        assertThat(llama.decode(ids)).isEqualTo(text);
        // No LLaMA piece contains '\n', so after the first line every line starts fresh: "\n" is the byte token 13,
        // and the text after it merges as a line of its own, without the dummy prefix.
        assertThat(ids.length).isGreaterThan(300_000).isLessThan(text.length() / 3);
        assertThat(Arrays.stream(ids).filter(id -> id == 13).count()).isEqualTo(text.chars().filter(c -> c == '\n').count());
    }

    @Test
    void agreesWithANaiveRescanningEncoderOnWikiTextAndRandomText() throws IOException {
        NaiveSentencePiece naive = new NaiveSentencePiece(llama.vocabulary());
        String text = wikitext();
        String[] lines = text.split("\n");
        Random rnd = new Random(5);
        List<String> samples = new ArrayList<>();
        for (int i = 0; i < 300; i++) samples.add(lines[rnd.nextInt(lines.length)]);
        int at = rnd.nextInt(text.length() - 2000);
        samples.add(text.substring(at, at + 2000)); // several lines at once
        String alphabet = "  \t\nabcdeéüß的中文ЖжΩ🦙😀0123456789.,;!?'\"-()";
        for (int i = 0; i < 200; i++) {
            StringBuilder sb = new StringBuilder();
            int n = 1 + rnd.nextInt(40);
            for (int k = 0; k < n; k++) sb.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, rnd.nextInt(alphabet.codePointCount(0, alphabet.length())))));
            samples.add(sb.toString());
        }
        for (String s : samples) {
            assertThat(llama.encode(s, false)).as(LlamaSpmConformanceTest.escape(s)).containsExactly(naive.encode(s));
            assertThat(llama.decode(llama.encode(s, false))).isEqualTo(s);
        }
    }

    @Test
    void tok512LoadsAndRoundTripsTinyStories() throws IOException {
        SentencePieceTokenizer tok = Llama2cTokenizerFile.load(SharedData.require("models/stories260K/tok512.bin"));
        assertThat(tok.vocabSize()).isEqualTo(512);
        assertThat(List.of(tok.token(0), tok.token(1), tok.token(2), tok.token(3), tok.token(258))).containsExactly("<unk>", "<s>", "</s>", "<0x00>", "<0xFF>");
        String stories = Files.readString(SharedData.require("data/tinystories/tinystories_val.txt"), StandardCharsets.UTF_8);
        int[] ids = tok.encode(stories, true);
        assertThat(ids[0]).isEqualTo(1);
        assertThat(tok.decode(ids)).isEqualTo(stories);
        // a 512-piece vocabulary still compresses English: fewer tokens than characters, most of them merged pieces
        assertThat(ids.length).isLessThan(stories.length() * 2 / 3);
        assertThat(Arrays.stream(ids).filter(id -> id > 258).count()).isGreaterThan(ids.length * 9L / 10);
        NaiveSentencePiece naive = new NaiveSentencePiece(tok.vocabulary());
        for (String story : stories.split("\n\n", 40)) {
            if (story.length() > 3000) continue;
            assertThat(tok.encode(story, false)).containsExactly(naive.encode(story));
        }
    }
}
