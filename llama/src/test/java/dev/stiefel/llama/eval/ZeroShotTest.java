package dev.stiefel.llama.eval;

import dev.stiefel.llama.KvCache;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ZeroShotTest {
    private final LlamaConfig config = RandomModels.config(16, 24, 2, 4, 2, 41, Rope.Layout.HALF, false);
    private final LlamaModel model = new LlamaModel(RandomModels.random(config, 5, DType.F32));
    /** One token per character (ids 1..40), so context/continuation splits are exact. */
    private final ZeroShot.Encoder chars = s -> s.chars().map(c -> 1 + c % 40).toArray();

    /** Log-likelihood of cont after prefix from one full forward pass, no cache. */
    private double bruteForce(int[] prefix, int[] cont) {
        int[] all = Arrays.copyOf(prefix, prefix.length + cont.length);
        System.arraycopy(cont, 0, all, prefix.length, cont.length);
        double[] nll = Perplexity.tokenNll(model, all);
        double ll = 0;
        for (int i = prefix.length - 1; i < all.length - 1; i++) ll -= nll[i];
        return ll;
    }

    @Test void cachedContinuationScoresEqualFullForwardPasses() {
        int[] prefix = {0, 5, 9, 13, 2, 7};
        int[][] conts = {{3}, {4, 8, 15}, {16, 23, 42 % 41, 1, 2}};
        KvCache cache = model.newCache(1, config.maxSeqLen());
        ZeroShot.Score[] s = ZeroShot.scoreContinuations(model, prefix, conts, cache);
        for (int c = 0; c < conts.length; c++) {
            assertThat(s[c].logLikelihood()).isCloseTo(bruteForce(prefix, conts[c]), org.assertj.core.data.Offset.offset(1e-4));
            assertThat(s[c].tokens()).isEqualTo(conts[c].length);
        }
        assertThat(cache.length()).isEqualTo(prefix.length);
    }

    @Test void accuracyPicksTheMostLikelyContinuationAndAccNormDividesByLength() {
        // two items whose gold is whatever the model prefers, one whose gold it does not prefer
        ZeroShotTask.Item a = ZeroShotTask.Item.choices("abc", List.of("de", "fg"), 0);
        ZeroShot.Score[] sa = ZeroShot.scoreItem(model, chars, 0, a, model.newCache(1, 64));
        int preferred = sa[0].logLikelihood() >= sa[1].logLikelihood() ? 0 : 1;
        ZeroShotTask task = new ZeroShotTask("toy", List.of(
                ZeroShotTask.Item.choices("abc", List.of("de", "fg"), preferred),
                ZeroShotTask.Item.choices("abc", List.of("de", "fg"), 1 - preferred)), false);
        ZeroShot.TaskResult r = ZeroShot.evaluate(model, chars, 0, task, Progress.silent());
        assertThat(r.items()).isEqualTo(2);
        assertThat(r.acc()).isEqualTo(0.5);
        assertThat(r.accStderr()).isCloseTo(Math.sqrt(0.25 / 1), org.assertj.core.data.Offset.offset(1e-12));

        // a long choice loses on the sum but can win once normalised by its length
        ZeroShotTask.Item b = ZeroShotTask.Item.choices("xy", List.of("a", "abcdefghijkl"), 1);
        ZeroShot.Score[] sb = ZeroShot.scoreItem(model, chars, 0, b, model.newCache(1, 64));
        boolean normWins = sb[1].logLikelihood() / 12 > sb[0].logLikelihood() / 1;
        ZeroShot.TaskResult rb = ZeroShot.evaluate(model, chars, 0, new ZeroShotTask("toy", List.of(b), false), Progress.silent());
        assertThat(rb.acc()).isEqualTo(sb[1].logLikelihood() > sb[0].logLikelihood() ? 1.0 : 0.0);
        assertThat(rb.accNorm()).isEqualTo(normWins ? 1.0 : 0.0);
    }

    @Test void partialScoringComparesTheSameContinuationAfterDifferentContexts() {
        ZeroShotTask.Item w = new ZeroShotTask.Item(List.of("the cat", "the dog"), List.of(" sat", " sat"), 1);
        ZeroShot.Score[] s = ZeroShot.scoreItem(model, chars, 0, w, model.newCache(1, 64));
        int[] cat = chars.encode("the cat"), dog = chars.encode("the dog"), sat = chars.encode(" sat");
        assertThat(s[0].logLikelihood()).isCloseTo(bruteForce(prepend(0, cat), sat), org.assertj.core.data.Offset.offset(1e-4));
        assertThat(s[1].logLikelihood()).isCloseTo(bruteForce(prepend(0, dog), sat), org.assertj.core.data.Offset.offset(1e-4));
    }

    @Test void greedyMatchIsTrueExactlyWhenEveryTokenIsTheArgmax() {
        // decode greedily from a prompt, then the greedy continuation must count as a match and a changed one not
        int[] prompt = {0, 3, 4};
        int[] greedy = new dev.stiefel.llama.Generator(model).generate(prompt, 3, dev.stiefel.llama.Sampler.greedy(), -1, t -> {}).generatedTokens();
        int[] other = greedy.clone();
        other[2] = (other[2] + 1) % config.vocabSize();
        ZeroShot.Score[] s = ZeroShot.scoreContinuations(model, prompt, new int[][]{greedy, other}, model.newCache(1, 64));
        assertThat(s[0].greedy()).isTrue();
        assertThat(s[1].greedy()).isFalse();
    }

    @Test void overlongContextsAreTruncatedOnTheLeft() {
        String longContext = "x".repeat(200);
        ZeroShotTask.Item item = ZeroShotTask.Item.choices(longContext, List.of("ab", "c"), 0);
        ZeroShot.Score[] s = ZeroShot.scoreItem(model, chars, 0, item, model.newCache(1, config.maxSeqLen()));
        assertThat(s).hasSize(2).doesNotContainNull();
    }

    /** A continuation longer than the context keeps the window's tail, as lm-eval truncates, instead of failing. */
    @Test void continuationsLongerThanTheContextAreScoredOnTheirTail() {
        String longChoice = "y".repeat(config.maxSeqLen() + 20);
        ZeroShotTask.Item item = ZeroShotTask.Item.choices("abc", List.of(longChoice, "z"), 1);
        ZeroShot.Score[] s = ZeroShot.scoreItem(model, chars, 0, item, model.newCache(1, config.maxSeqLen()));
        assertThat(s[0].tokens()).isEqualTo(config.maxSeqLen());
        int[] all = chars.encode("abc " + longChoice);
        int[] window = java.util.Arrays.copyOfRange(prepend(0, all), all.length + 1 - config.maxSeqLen() - 1, all.length + 1);
        double[] nll = Perplexity.tokenNll(model, window);
        assertThat(s[0].logLikelihood()).isCloseTo(-java.util.Arrays.stream(nll).sum(), org.assertj.core.data.Offset.offset(1e-3));
    }

    @Test void sharedTaskFilesLoadWithLmEvalTemplates() {
        Path dir = EvalDataset.sharedDir().resolve("data/zeroshot");
        Assumptions.assumeTrue(Files.isDirectory(dir), "no ../shared/data/zeroshot here");
        for (String name : ZeroShotTask.NAMES) {
            ZeroShotTask t = ZeroShotTask.load(name, dir, 5);
            assertThat(t.items()).as(name).hasSize(5);
            for (ZeroShotTask.Item it : t.items()) {
                assertThat(it.continuations()).allSatisfy(c -> assertThat(c).startsWith(" "));
                if (name.startsWith("arc") || name.equals("boolq") || name.equals("piqa"))
                    assertThat(it.contexts()).allSatisfy(c -> assertThat(c).endsWith("\nAnswer:"));
            }
        }
        ZeroShotTask hs = ZeroShotTask.load("hellaswag", dir, 2);
        assertThat(hs.items().get(0).contexts().get(0)).isEqualTo("Roof shingle removal: A man is sitting on a roof. he");
        assertThat(hs.items().get(0).gold()).isEqualTo(3);
        assertThat(hs.items().get(0).continuations()).hasSize(4).contains(" starts pulling up roofing on a roof.");
        ZeroShotTask wg = ZeroShotTask.load("winogrande", dir, 1);
        assertThat(wg.items().get(0).contexts()).hasSize(2).doesNotHaveDuplicates();
        assertThat(wg.items().get(0).continuations().get(0)).isEqualTo(wg.items().get(0).continuations().get(1));
        assertThat(ZeroShotTask.load("lambada_openai", dir, 3).greedyMatch()).isTrue();
        assertThatThrownBy(() -> ZeroShotTask.load("mmlu", dir, 1)).hasMessageContaining("unknown zero-shot task 'mmlu'");
    }

    private static int[] prepend(int first, int[] rest) {
        int[] r = new int[rest.length + 1];
        r[0] = first;
        System.arraycopy(rest, 0, r, 1, rest.length);
        return r;
    }
}
