package dev.stiefel.llama.train;

import dev.stiefel.llama.tokenizer.Llama2cTokenizerFile;
import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.llama.tokenizer.Tokenizers;
import dev.stiefel.llama.tokenizer.Vocabulary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BpeTrainerTest {
    @TempDir Path dir;

    @Test void trainedVocabularyRoundTripsUnseenTextAndCompressesIt() throws Exception {
        String train = new StoryCorpus(1).stories(300);
        Vocabulary v = BpeTrainer.train(train, 400);
        assertThat(v.size()).isEqualTo(400);
        assertThat(v.tokens().subList(0, 3)).containsExactly("<unk>", "<s>", "</s>");
        assertThat(v.tokens().get(3 + 10)).isEqualTo("<0x0A>");
        assertThat(v.tokens()).contains("\u2581the", "\u2581friend"); // frequent words become single pieces
        Tokenizer tok = Tokenizers.fromVocabulary(v);
        String unseen = new StoryCorpus(2).stories(20) + "\nZebra-like émigrés ☃ count 42!";
        int[] ids = tok.encode(unseen, true);
        assertThat(ids[0]).isEqualTo(1);
        assertThat(tok.decode(ids)).isEqualTo(unseen);
        assertThat(ids.length).isLessThan(unseen.length() / 2); // 141 merges: about 2 characters per token

        // llama2.c's tokenizer.bin keeps every piece and score
        Path bin = dir.resolve("tokenizer.bin");
        Llama2cTokenizerFile.write(v, bin);
        Tokenizer back = Tokenizers.load(bin);
        assertThat(back.encode(unseen, true)).isEqualTo(ids);
        assertThat(Llama2cTokenizerFile.readVocabulary(bin).tokens()).isEqualTo(v.tokens());
    }

    @Test void mergesFollowFrequencyAndTrainingIsDeterministic() {
        Vocabulary v = BpeTrainer.train("aaab aaab aaab cd", 3 + 256 + 6 + 3);
        // characters first by frequency (a, ▁, b ...), then the most frequent pair "aa"
        assertThat(v.tokens().subList(259, v.size())).startsWith("a", "\u2581").contains("aa");
        assertThat(v.scores()[v.tokens().indexOf("aa")]).isGreaterThan(v.scores()[v.tokens().indexOf("a")]);
        assertThat(BpeTrainer.train("aaab aaab aaab cd", 268).tokens()).isEqualTo(v.tokens());
        assertThatThrownBy(() -> BpeTrainer.train("x", 100)).hasMessageContaining("must exceed 259");
    }
}
