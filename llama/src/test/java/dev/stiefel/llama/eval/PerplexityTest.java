package dev.stiefel.llama.eval;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.testing.F64Llama;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PerplexityTest {
    private final LlamaConfig config = RandomModels.config(16, 24, 2, 4, 2, 37, Rope.Layout.INTERLEAVED, false);
    private final LlamaWeights weights = RandomModels.random(config, 3, DType.F32);
    private final LlamaModel model = new LlamaModel(weights);

    @Test void standardWindowsAreNonOverlappingAndDropTheRemainder() {
        assertThat(Perplexity.windows(10, Perplexity.Options.standard(4)))
                .containsExactly(new Perplexity.Window(0, 4, 1), new Perplexity.Window(4, 8, 5));
        assertThat(Perplexity.windows(12, Perplexity.Options.standard(4))).hasSize(3);
        assertThat(Perplexity.windows(12, new Perplexity.Options(4, 2, 0))).hasSize(2);
        assertThat(Perplexity.windows(3, Perplexity.Options.standard(4))).isEmpty();
    }

    @Test void slidingWindowsScoreEveryTokenButTheFirstExactlyOnce() {
        assertThat(Perplexity.windows(10, new Perplexity.Options(4, 0, 2))).containsExactly(
                new Perplexity.Window(0, 4, 1), new Perplexity.Window(2, 6, 4), new Perplexity.Window(4, 8, 6), new Perplexity.Window(6, 10, 8));
        for (int n : new int[]{2, 7, 33, 100})
            for (int stride : new int[]{1, 3, 7}) { // stride < seqLen: windows overlap, so each window's first token had context before
                int[] times = new int[n];
                for (Perplexity.Window w : Perplexity.windows(n, new Perplexity.Options(8, 0, stride))) {
                    assertThat(w.end() - w.start()).isLessThanOrEqualTo(8);
                    for (int p = w.firstScored(); p < w.end(); p++) times[p]++;
                }
                assertThat(times[0]).isZero();
                for (int p = 1; p < n; p++) assertThat(times[p]).as("n %d stride %d token %d", n, stride, p).isEqualTo(1);
            }
    }

    /** The whole protocol against an f64 loop reference: per-window mean NLL, mean over windows, exp. */
    @Test void perplexityMatchesAnF64ReferenceOfTheProtocol() {
        int[] tokens = RandomModels.tokens(new Random(8), 50, config.vocabSize());
        Perplexity.Result r = Perplexity.evaluate(model, tokens, Perplexity.Options.standard(16), Progress.silent());
        F64Llama ref = F64Llama.of(weights);
        double sumOfMeans = 0;
        for (int wi = 0; wi < 3; wi++) {
            int[] win = Arrays.copyOfRange(tokens, wi * 16, wi * 16 + 16);
            double[][] logits = ref.logits(win);
            double nll = 0;
            for (int t = 0; t < 15; t++) nll -= logSoftmax(logits[t])[win[t + 1]];
            sumOfMeans += nll / 15;
            if (wi == 0) {
                double[] ours = Perplexity.tokenNll(model, win);
                double mine = Arrays.stream(ours).sum() / 15;
                assertThat(Math.abs(Math.exp(mine) - Math.exp(nll / 15)) / Math.exp(nll / 15)).isLessThan(1e-4);
            }
        }
        double expected = Math.exp(sumOfMeans / 3);
        assertThat(r.windows()).isEqualTo(3);
        assertThat(r.tokensScored()).isEqualTo(45);
        assertThat(r.datasetTokens()).isEqualTo(50);
        assertThat(Math.abs(r.perplexity() - expected) / expected).isLessThan(1e-4);
        // a random model over 37 tokens is near-uniform: the figure is in the right range, not a constant
        assertThat(r.perplexity()).isBetween(5.0, 200.0);
    }

    @Test void slidingWindowWithStrideEqualToSeqLenIsTheStandardProtocol() {
        int[] tokens = RandomModels.tokens(new Random(9), 33, config.vocabSize());
        Perplexity.Result standard = Perplexity.evaluate(model, tokens, Perplexity.Options.standard(8), Progress.silent());
        Perplexity.Result sliding = Perplexity.evaluate(model, tokens, new Perplexity.Options(8, 0, 8), Progress.silent());
        assertThat(sliding.tokensScored()).isEqualTo(standard.tokensScored()).isEqualTo(4 * 7);
        assertThat(sliding.perplexity()).isCloseTo(standard.perplexity(), org.assertj.core.data.Offset.offset(1e-9));
        Perplexity.Result dense = Perplexity.evaluate(model, tokens, new Perplexity.Options(8, 0, 1), Progress.silent());
        assertThat(dense.tokensScored()).isEqualTo(32);
        assertThat(dense.perplexity()).isNotEqualTo(sliding.perplexity()); // more context per token changes the figure
    }

    @Test void wikitextRowsKeepTheirNewlineAndBlankLinesBecomeEmpty() {
        List<String> rows = EvalDataset.wikitextRows(" = Title = \n \n text a \n\nlast");
        assertThat(rows).containsExactly(" = Title = \n", "", " text a \n", "", "last");
        assertThat(String.join("\n\n", rows)).isEqualTo(" = Title = \n\n\n\n\n text a \n\n\n\n\nlast");
    }

    @Test void badOptionsAndShortTextAreClearErrors() {
        assertThatThrownBy(() -> Perplexity.evaluate(model, new int[5], Perplexity.Options.standard(8), Progress.silent()))
                .hasMessageContaining("5 tokens make no window of 8");
        assertThatThrownBy(() -> Perplexity.evaluate(model, new int[500], Perplexity.Options.standard(65), Progress.silent()))
                .hasMessageContaining("exceeds the model's context of 64");
        assertThatThrownBy(() -> new Perplexity.Options(8, 0, 9)).hasMessageContaining("stride");
        assertThatThrownBy(() -> EvalDataset.load("/nonexistent/file.txt")).hasMessageContaining("does not exist");
    }

    private static double[] logSoftmax(double[] x) {
        double max = Arrays.stream(x).max().orElseThrow(), s = 0;
        for (double v : x) s += Math.exp(v - max);
        double lse = max + Math.log(s);
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) r[i] = x[i] - lse;
        return r;
    }
}
