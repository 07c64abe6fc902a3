package dev.stiefel.llama.io;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.Random;

import static dev.stiefel.llama.io.IoFixtures.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RopePermutationTest {

    @ParameterizedTest
    @CsvSource({"1, 2, 7", "3, 8, 33", "4, 6, 1", "2, 64, 5"})
    void permutingThenInvertingIsTheIdentityInEveryDtype(int heads, int headDim, int in) {
        Random rnd = new Random(heads * 100 + headDim);
        for (DType dt : new DType[]{DType.F32, DType.F16, DType.BF16}) {
            Tensor w = Tensor.randn(rnd, heads * headDim, in).to(dt);
            Tensor half = RopePermutation.toHalf(w, heads);
            assertThat(half.dtype()).isEqualTo(dt);
            assertBitIdentical("toInterleaved(toHalf(w))", RopePermutation.toInterleaved(half, heads), w);
            assertBitIdentical("toHalf(toInterleaved(w))", RopePermutation.toHalf(RopePermutation.toInterleaved(w, heads), heads), w);
            if (headDim > 2) assertThat(half.maxAbsDiff(w)).as("the permutation moves rows").isGreaterThan(0);
        }
    }

    /** The same order as HF's permute(): w.view(heads, d/2, 2, in).transpose(1, 2).reshape(heads·d, in), done with views. */
    @Test void matchesHuggingFacesViewTransposeFormula() {
        int heads = 3, hd = 10, in = 7;
        Tensor w = Tensor.randn(new Random(7), heads * hd, in);
        Tensor hf = w.reshape(heads, hd / 2, 2, in).transpose(1, 2).contiguous().reshape(heads * hd, in);
        assertBitIdentical("toHalf vs HF's formula", RopePermutation.toHalf(w, heads), hf);
        int[] order = RopePermutation.halfFromInterleaved(heads, hd);
        assertThat(Arrays.stream(order).sorted().toArray()).as("a permutation").isEqualTo(java.util.stream.IntStream.range(0, heads * hd).toArray());
    }

    /** rope_half(P·q) = P·rope_interleaved(q), head by head, for random q at random positions. */
    @ParameterizedTest
    @CsvSource({"1, 2", "4, 8", "3, 34"})
    void rotateHalfOfPermutedEqualsPermutedInterleaved(int heads, int hd) {
        Random rnd = new Random(hd);
        int tokens = 7;
        Tensor q = Tensor.randn(rnd, tokens, heads, hd);
        int[] positions = {0, 1, 5, 17, 100, 1023, 4096};
        Tensor interleaved = new Rope(hd, 10000, Rope.Layout.INTERLEAVED).apply(q, positions);
        Tensor rotateHalf = new Rope(hd, 10000, Rope.Layout.HALF).apply(permuteFeatures(q, heads, hd), positions);
        assertThat(rotateHalf.maxAbsDiff(permuteFeatures(interleaved, heads, hd))).isLessThan(1e-6);
        // and without the permutation the two layouts disagree (they coincide only for a single pair, d = 2)
        if (hd > 2) assertThat(new Rope(hd, 10000, Rope.Layout.HALF).apply(q, positions).maxAbsDiff(interleaved)).isGreaterThan(1e-3);
    }

    /** P applied to the features of every head of x [T, H, D] (as P applies to the rows of W_q, so to q = W_q·x). */
    private static Tensor permuteFeatures(Tensor x, int heads, int hd) {
        int t = x.size(0);
        Tensor rows = x.reshape(t, heads * hd).t().contiguous();      // [H·D, T]: features as rows
        return RopePermutation.toHalf(rows, heads).t().contiguous().reshape(t, heads, hd);
    }

    @ParameterizedTest
    @CsvSource({"4, 2, false", "4, 4, true", "2, 1, false"})
    void halfLayoutWeightsGiveTheSameLogits(int heads, int kvHeads, boolean tied) {
        LlamaConfig c = RandomModels.config(32, 45, 2, heads, kvHeads, 37, Rope.Layout.INTERLEAVED, tied);
        LlamaWeights w = RandomModels.random(c, 11, DType.F32);
        LlamaWeights half = RopePermutation.toLayout(w, Rope.Layout.HALF);
        assertThat(half.config().ropeLayout()).isEqualTo(Rope.Layout.HALF);
        assertThat(RopePermutation.toLayout(half, Rope.Layout.HALF)).isSameAs(half);
        IoFixtures.assertSameWeights(RopePermutation.toLayout(half, Rope.Layout.INTERLEAVED), w, null);
        Tensor ids = Tensor.ofInts(new Random(3).ints(9, 0, c.vocabSize()).toArray(), 1, 9);
        try (var off = Grad.off()) {
            Tensor a = new LlamaModel(w).forward(ids, null).value();
            Tensor b = new LlamaModel(half).forward(ids, null).value();
            assertThat(a.maxAbsDiff(b)).isLessThan(1e-4);
        }
    }

    @Test void badArgumentsAreNamed() {
        assertThatThrownBy(() -> RopePermutation.halfFromInterleaved(2, 5)).hasMessageContaining("even head dim");
        assertThatThrownBy(() -> RopePermutation.toHalf(Tensor.zeros(10, 3), 3)).hasMessageContaining("[10, 3]");
    }
}
