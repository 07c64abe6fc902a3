package dev.stiefel.llama;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GenerationTest {
    private final LlamaConfig config = RandomModels.config(16, 24, 2, 4, 2, 23, Rope.Layout.INTERLEAVED, false);
    private final LlamaModel model = new LlamaModel(RandomModels.random(config, 21, DType.F32));

    @Test void greedyGenerationPicksTheArgmaxOfTheFullForwardAtEveryStep() {
        int[] prompt = {1, 5, 7};
        List<Integer> streamed = new ArrayList<>();
        Generator.Result r = new Generator(model).generate(prompt, 10, Sampler.greedy(), -1, streamed::add);
        assertThat(r.tokens()).hasSize(13).startsWith(prompt);
        assertThat(streamed).containsExactly(java.util.Arrays.stream(r.generatedTokens()).boxed().toArray(Integer[]::new));
        try (var off = Grad.off()) {
            Tensor logits = model.forward(Tensor.ofInts(r.tokens(), 1, 13), null).value();
            for (int t = 2; t < 12; t++)
                assertThat(r.tokens()[t + 1]).as("token after position %d", t).isEqualTo(Sampler.argmax(logits.select(0, 0).select(0, t).toFloatArray()));
        }
    }

    @Test void generationStopsAtTheStopTokenAndAtTheContextLength() {
        Generator.Result free = new Generator(model).generate(new int[]{1}, 8, Sampler.greedy(), -1, t -> {});
        int stop = free.tokens()[3];
        Generator.Result stopped = new Generator(model).generate(new int[]{1}, 8, Sampler.greedy(), stop, t -> {});
        assertThat(stopped.tokens()[stopped.tokens().length - 1]).isEqualTo(stop);
        assertThat(stopped.generated()).isLessThanOrEqualTo(3);
        Generator.Result full = new Generator(model).generate(new int[]{1, 2}, 1000, Sampler.greedy(), -1, t -> {});
        assertThat(full.tokens()).hasSize(config.maxSeqLen());
        assertThatThrownBy(() -> new Generator(model).generate(new int[0], 3, Sampler.greedy(), -1, t -> {})).hasMessageContaining("at least one token");
    }

    @Test void sameSeedSameTokensOtherSeedOtherTokens() {
        int[] a = new Generator(model).generate(new int[]{1}, 30, Sampler.of(1.0, 1.0, 42), -1, t -> {}).tokens();
        int[] b = new Generator(model).generate(new int[]{1}, 30, Sampler.of(1.0, 1.0, 42), -1, t -> {}).tokens();
        int[] c = new Generator(model).generate(new int[]{1}, 30, Sampler.of(1.0, 1.0, 43), -1, t -> {}).tokens();
        assertThat(a).isEqualTo(b);
        assertThat(a).isNotEqualTo(c);
    }

    @Test void samplingFollowsTheTemperedSoftmaxAndTopPCutsTheTail() {
        float[] logits = {2f, 1f, 0.5f, -1f, -3f};
        double temperature = 0.8;
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp(logits[i] / temperature);
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        int draws = 40_000;
        int[] counts = new int[logits.length];
        Sampler s = Sampler.of(temperature, 1.0, 7);
        for (int i = 0; i < draws; i++) counts[s.sample(logits)]++;
        for (int i = 0; i < p.length; i++) // 5 standard deviations of a binomial count
            assertThat((double) counts[i]).isCloseTo(p[i] * draws, org.assertj.core.data.Offset.offset(5 * Math.sqrt(draws * p[i] * (1 - p[i])) + 1));

        // top-p = p0 + p1 exactly reached keeps tokens 0 and 1 only, renormalized
        double topP = p[0] + p[1] - 1e-12;
        Sampler nucleus = Sampler.of(temperature, topP, 8);
        int[] kept = new int[logits.length];
        for (int i = 0; i < draws; i++) kept[nucleus.sample(logits)]++;
        assertThat(kept[2] + kept[3] + kept[4]).isZero();
        double share0 = p[0] / (p[0] + p[1]);
        assertThat(kept[0] / (double) draws).isCloseTo(share0, org.assertj.core.data.Offset.offset(0.01));
        assertThat(Sampler.of(1.0, 1e-9, 1).sample(logits)).isZero(); // a tiny nucleus is greedy
        assertThatThrownBy(() -> Sampler.of(1, 0, 1)).hasMessageContaining("top-p");
        assertThatThrownBy(() -> Sampler.of(-1, 0.5, 1)).hasMessageContaining("temperature");
    }
}
