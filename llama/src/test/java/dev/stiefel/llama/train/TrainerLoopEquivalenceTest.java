package dev.stiefel.llama.train;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Trainer} on {@link TrainingLoop} against {@link LegacyTrainerLoop} (the loop it had of its own), bit for bit:
 * every weight, and every logged loss, validation loss, learning rate and gradient norm, straight through (with
 * validation and checkpoints on the way) and stopped, checkpointed and resumed into other weights.
 */
class TrainerLoopEquivalenceTest {
    @TempDir Path dir;

    // odd sizes, GQA, untied head
    private static final LlamaConfig CONFIG = RandomModels.config(24, 40, 2, 6, 2, 13, Rope.Layout.HALF, false);
    private static final Trainer.Settings SETTINGS = new Trainer.Settings(11, 3, 9, 2e-2, 1e-3, 3, 0.1, 0.5, 5, 4, 3);

    private static int[] tokens(int n, long seed) { return RandomModels.tokens(new Random(seed), n, CONFIG.vocabSize()); }

    private static void assertSameWeights(LlamaWeights got, LlamaWeights want) {
        List<Tensor> g = got.tensors(), w = want.tensors();
        List<String> names = want.hfNames();
        for (int i = 0; i < w.size(); i++) {
            float[] a = g.get(i).contiguous().toFloatArray(), b = w.get(i).contiguous().toFloatArray();
            assertThat(a.length).isEqualTo(b.length);
            for (int j = 0; j < b.length; j++)
                if (Float.floatToRawIntBits(a[j]) != Float.floatToRawIntBits(b[j]))
                    throw new AssertionError(names.get(i) + "[" + j + "] is " + a[j] + ", the old loop gives " + b[j]);
        }
    }

    /** Every field but the throughput (a clock reading), bit for bit. */
    private static void assertSameLogs(List<Trainer.Log> got, List<Trainer.Log> want) {
        assertThat(got).hasSameSizeAs(want);
        for (int i = 0; i < want.size(); i++) {
            Trainer.Log a = got.get(i), b = want.get(i);
            String at = "log of step " + b.step();
            assertThat(a.step()).as(at).isEqualTo(b.step());
            assertThat(Double.doubleToRawLongBits(a.loss())).as(at + ": loss " + a.loss() + " vs " + b.loss()).isEqualTo(Double.doubleToRawLongBits(b.loss()));
            assertThat(Double.doubleToRawLongBits(a.valLoss())).as(at + ": val loss " + a.valLoss() + " vs " + b.valLoss()).isEqualTo(Double.doubleToRawLongBits(b.valLoss()));
            assertThat(Double.doubleToRawLongBits(a.lr())).as(at + ": lr").isEqualTo(Double.doubleToRawLongBits(b.lr()));
            assertThat(Double.doubleToRawLongBits(a.gradNorm())).as(at + ": grad norm " + a.gradNorm() + " vs " + b.gradNorm())
                    .isEqualTo(Double.doubleToRawLongBits(b.gradNorm()));
        }
    }

    @Test void aStraightRunGivesTheOldLoopsWeightsAndLogs() throws Exception {
        int[] train = tokens(500, 1), val = tokens(120, 2);
        LlamaWeights old = RandomModels.random(CONFIG, 3), now = RandomModels.random(CONFIG, 3);
        List<Trainer.Log> oldLogs = new ArrayList<>(), newLogs = new ArrayList<>();
        new LegacyTrainerLoop(old, train, val, SETTINGS).run(oldLogs::add);
        TrainingCheckpoint ckpt = new TrainingCheckpoint(dir.resolve("ckpt"));
        new Trainer(now, train, val, SETTINGS).run(Progress.silent(), newLogs::add, ckpt);

        assertSameWeights(now, old);
        assertSameLogs(newLogs, oldLogs);
        assertThat(oldLogs.stream().filter(l -> !Double.isNaN(l.valLoss())).map(Trainer.Log::step)).containsExactly(4, 8, 9);
        assertThat(oldLogs.get(0).loss()).isGreaterThan(oldLogs.get(8).loss()); // it learned something: not a run of no-ops
        // the last checkpoint holds the trained weights
        LlamaWeights restored = RandomModels.random(CONFIG, 77);
        assertThat(ckpt.restore(new Trainer(restored, train, val, SETTINGS))).isEqualTo(9);
        assertSameWeights(restored, old);
    }

    @Test void aRunStoppedAndResumedGivesTheOldLoopsWeights() throws Exception {
        int[] train = tokens(500, 4), val = tokens(120, 5);
        // the old loop: 5 steps, the state copied into a trainer of other weights, the rest
        LegacyTrainerLoop oldFirst = new LegacyTrainerLoop(RandomModels.random(CONFIG, 6), train, val, SETTINGS);
        for (int i = 0; i < 5; i++) oldFirst.trainStep();
        LlamaWeights old = RandomModels.random(CONFIG, 7);
        LegacyTrainerLoop oldSecond = new LegacyTrainerLoop(old, train, val, SETTINGS);
        oldSecond.resumeFrom(oldFirst);
        List<Trainer.Log> oldLogs = new ArrayList<>();
        oldSecond.run(oldLogs::add);
        // and an old run that never stopped
        LlamaWeights straight = RandomModels.random(CONFIG, 6);
        new LegacyTrainerLoop(straight, train, val, SETTINGS).run(l -> {});

        // the new loop: stopped at 5 with its checkpoint, restored into other weights, the rest
        TrainingCheckpoint ckpt = new TrainingCheckpoint(dir.resolve("ckpt"));
        new Trainer(RandomModels.random(CONFIG, 6), train, val, SETTINGS).run(5, Progress.silent(), l -> {}, ckpt);
        LlamaWeights now = RandomModels.random(CONFIG, 7);
        Trainer second = new Trainer(now, train, val, SETTINGS);
        assertThat(ckpt.restore(second)).isEqualTo(5);
        List<Trainer.Log> newLogs = new ArrayList<>();
        second.run(Progress.silent(), newLogs::add, ckpt);

        assertSameWeights(now, old);
        assertSameLogs(newLogs, oldLogs);
        assertSameWeights(now, straight);
    }
}
