package dev.stiefel.llama.train;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TrainerTest {
    @TempDir Path dir;

    private static final LlamaConfig CONFIG = new LlamaConfig(16, 32, 2, 4, 2, 4, 11, 1e-5f, 10000, null, Rope.Layout.HALF, true, 32);

    /** A stream where each token follows from the one before it 90% of the time: the loss floor is far below uniform (ln 11). */
    private static int[] corpus(int n, long seed) {
        Random r = new Random(seed);
        int[] t = new int[n];
        t[0] = 1; t[1] = 2;
        for (int i = 2; i < n; i++) t[i] = r.nextInt(10) == 0 ? r.nextInt(11) : (t[i - 1] * 3 + 1) % 11;
        return t;
    }

    private static Trainer.Settings settings(int steps) {
        return new Trainer.Settings(16, 8, steps, 1e-2, 1e-3, 5, 0.01, 1.0, 7, 0, 0);
    }

    @Test void trainingLowersTheLossFarBelowUniform() throws Exception {
        LlamaWeights w = Init.gpt2(CONFIG, 1);
        Trainer t = new Trainer(w, corpus(4000, 1), corpus(600, 2), settings(150));
        double before = t.validationLoss(0);
        List<Trainer.Log> logs = new ArrayList<>();
        t.run(Progress.silent(), logs::add, null);
        double after = t.validationLoss(0);
        assertThat(before).isCloseTo(Math.log(11), org.assertj.core.data.Offset.offset(0.3));
        // p(rule) = 0.9 + 0.1/11: the entropy floor is about 0.51 nats
        assertThat(after).isLessThan(1.0);
        assertThat(logs).hasSize(150);
        assertThat(logs.get(149).valLoss()).isCloseTo(t.validationLoss(8), org.assertj.core.data.Offset.offset(1e-9)); // the log's loss is on 8 windows
        assertThat(logs.get(0).lr()).isLessThan(logs.get(4).lr()); // warm-up
    }

    /** Stopping after a checkpoint and resuming gives the weights of a run that never stopped. */
    @Test void resumingFromACheckpointContinuesTheSameRun() throws Exception {
        int[] train = corpus(3000, 3), val = corpus(400, 4);
        LlamaWeights straight = Init.gpt2(CONFIG, 5);
        new Trainer(straight, train, val, settings(12)).run(Progress.silent(), l -> {}, null);

        LlamaWeights first = Init.gpt2(CONFIG, 5);
        Trainer a = new Trainer(first, train, val, settings(12));
        TrainingCheckpoint ckpt = new TrainingCheckpoint(dir.resolve("ckpt"));
        a.run(7, Progress.silent(), l -> {}, ckpt); // stops at step 7, checkpointed there

        LlamaWeights second = Init.gpt2(CONFIG, 99); // different initial weights: the checkpoint must overwrite them
        Trainer b = new Trainer(second, train, val, settings(12));
        assertThat(ckpt.restore(b)).isEqualTo(7);
        b.run(Progress.silent(), l -> {}, null);
        List<Tensor> x = straight.tensors(), y = second.tensors();
        for (int i = 0; i < x.size(); i++) assertThat(x.get(i).maxAbsDiff(y.get(i))).as("tensor %d", i).isLessThan(1e-5);
    }

    @Test void badSettingsAreRejected() {
        LlamaWeights w = Init.gpt2(CONFIG, 1);
        assertThatThrownBy(() -> new Trainer(w, corpus(10, 1), null, settings(5))).hasMessageContaining("too few");
        assertThatThrownBy(() -> new Trainer(w, corpus(1000, 1), null, new Trainer.Settings(64, 1, 1, 1e-3, 0, 0, 0, 1, 1, 0, 0)))
                .hasMessageContaining("exceeds the model's context");
        assertThatThrownBy(() -> new Trainer.Settings(16, 1, 1, -1, 0, 0, 0, 1, 1, 0, 0)).hasMessageContaining("lr > 0");
    }

    @Test void storyCorpusIsDeterministicPerSeed() {
        assertThat(new StoryCorpus(3).stories(5)).isEqualTo(new StoryCorpus(3).stories(5)).isNotEqualTo(new StoryCorpus(4).stories(5));
        assertThat(new StoryCorpus(3).stories(5).split("\n\n")).hasSize(5);
    }
}
