package dev.stiefel.quant.method;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Checkpointed learning: an interrupted run resumes to exactly the bits of an uninterrupted one; other runs are refused. */
class OstQuantResumeTest {
    private static final LlamaConfig C = RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false);
    @TempDir Path dir;

    private static CalibrationData calibration(int n, int len) {
        Random rnd = new Random(31);
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < n; i++) s.add(RandomModels.tokens(rnd, len, C.vocabSize()));
        return new CalibrationData(s, "random tokens", 31);
    }

    /** Every learned value (rotations, then log-scales) as raw float bits. */
    private static List<int[]> bits(OstQuantView v) {
        List<Var> ps = new ArrayList<>(v.rotations());
        ps.addAll(v.scales());
        List<int[]> out = new ArrayList<>();
        for (Var p : ps) {
            float[] f = p.value().toFloatArray();
            int[] b = new int[f.length];
            for (int i = 0; i < f.length; i++) b[i] = Float.floatToRawIntBits(f[i]);
            out.add(b);
        }
        return out;
    }

    private static void assertSameBits(List<int[]> a, List<int[]> b) {
        assertThat(a).hasSameSizeAs(b);
        for (int i = 0; i < a.size(); i++) assertThat(a.get(i)).as("parameter %d", i).containsExactly(b.get(i));
    }

    @Test void aRunStoppedAfterSomeStepsResumesToTheSameBitsAsAnUninterruptedRun() throws Exception {
        LlamaWeights fp = RandomModels.withOutliers(RandomModels.random(C, 5), 10, 2, 3);
        CalibrationData calib = calibration(5, 16);
        QuantConfig config = QuantConfig.parse("W4A4KV4");
        // 5 windows in batches of 2: 3 steps per epoch, the last short; 8 steps cross two reshuffles
        for (OstQuant.Options preset : List.of(OstQuant.Options.ostquant().withInit(OstQuant.Init.HADAMARD), OstQuant.Options.spinquant())) {
            OstQuant.Options o = preset.withSteps(8).withBatch(2);
            OstQuantView straight = OstQuant.initialView(fp, config, o);
            List<int[]> initial = bits(straight);
            OstQuant.Learning expected = OstQuant.learn(fp, straight, calib, config, o, ProgressFactory.SILENT);
            assertThat(expected.steps()).isEqualTo(8);
            assertThat(bits(straight).get(0)).as("learning moved R").isNotEqualTo(initial.get(0));

            Path work = dir.resolve(preset.rotationOptimizer().name());
            // checkpoints every 3 steps; the first run stops after 5 (saving step 5), the second after 2 more (step 7)
            OstQuant.Options resumable = o.withWorkDir(work).withCheckpointEvery(3);
            assertThatThrownBy(() -> OstQuant.learn(fp, OstQuant.initialView(fp, config, resumable), calib, config, resumable.withStopAfter(5), ProgressFactory.SILENT))
                    .isInstanceOf(OstQuant.LearningPaused.class).hasMessageContaining("after step 5 of 8");
            assertThatThrownBy(() -> OstQuant.learn(fp, OstQuant.initialView(fp, config, resumable), calib, config, resumable.withStopAfter(2), ProgressFactory.SILENT))
                    .isInstanceOf(OstQuant.LearningPaused.class).hasMessageContaining("after step 7 of 8");
            // a fresh view (at its initial values) and fresh optimizers: everything comes from the checkpoint
            OstQuantView resumed = OstQuant.initialView(fp, config, resumable);
            OstQuant.Learning got = OstQuant.learn(fp, resumed, calib, config, resumable, ProgressFactory.SILENT);
            assertSameBits(bits(resumed), bits(straight));
            assertThat(got).isEqualTo(expected);

            // a finished checkpoint is loaded without learning again, with the same result
            OstQuantView again = OstQuant.initialView(fp, config, resumable);
            assertThat(OstQuant.learn(fp, again, calib, config, resumable, ProgressFactory.SILENT)).isEqualTo(expected);
            assertSameBits(bits(again), bits(straight));
            try (Stream<Path> files = Files.walk(work)) {
                assertThat(files.filter(Files::isRegularFile).map(p -> p.getFileName().toString())).containsExactly(LearningState.FILE);
            }
        }
    }

    @Test void aCheckpointIsOnlyResumedByTheRunItBelongsTo() {
        LlamaWeights fp = RandomModels.random(C, 6);
        CalibrationData calib = calibration(4, 16);
        QuantConfig config = QuantConfig.parse("W4A4KV4");
        OstQuant.Options o = OstQuant.Options.ostquant().withSteps(3).withBatch(2).withWorkDir(dir);
        OstQuant.learn(fp, OstQuant.initialView(fp, config, o), calib, config, o, ProgressFactory.SILENT);
        // another learning rate, another config or other data give another directory: they start from scratch
        OstQuant.Options lr = o.withRotationLr(1e-2);
        OstQuantView fresh = OstQuant.initialView(fp, config, lr);
        List<int[]> start = bits(fresh);
        assertThatThrownBy(() -> OstQuant.learn(fp, fresh, calib, config, lr.withStopAfter(1), ProgressFactory.SILENT))
                .isInstanceOf(OstQuant.LearningPaused.class);
        assertThat(bits(fresh).get(0)).isNotEqualTo(start.get(0));
        OstQuant.learn(fp, OstQuant.initialView(fp, QuantConfig.parse("W4A8"), o), calib, QuantConfig.parse("W4A8"), o, ProgressFactory.SILENT);
        try (Stream<Path> runs = Files.list(dir)) {
            assertThat(runs.count()).isEqualTo(3);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        // a file whose fingerprint is not this run's is refused by name
        LearningState mine = LearningState.open(dir, "x", "run A"), other = LearningState.open(dir, "x", "run B");
        OstQuantView v = OstQuant.initialView(fp, config, o);
        List<Var> ps = new ArrayList<>(v.rotations());
        var group = dev.stiefel.riemann.OptimizerGroup.builder().add(v.rotations(), p -> new dev.stiefel.riemann.RiemannianAdam(p, dev.stiefel.autograd.LrSchedule.constant(0.1))).build();
        mine.save(ps, group, new LearningState.Saved(1, 0.5, 0, Double.NaN, Double.NaN));
        try {
            Files.move(mine.file(), other.file(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        assertThatThrownBy(() -> other.restore(ps, group)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("belongs to another run").hasMessageContaining("run A").hasMessageContaining(other.file().toString());
    }

    @Test void overridesReplaceOnlyWhatTheyName() {
        OstQuant.Overrides none = OstQuant.Overrides.none();
        assertThat(none.applyTo(OstQuant.Options.spinquant())).isEqualTo(OstQuant.Options.spinquant());
        OstQuant.Overrides some = new OstQuant.Overrides(null, 20, 2, null, 1e-3, OstQuant.Loss.KL, 50, null, OstQuant.Init.IDENTITY,
                null, false, null, dir, 5, null);
        OstQuant.Options o = some.applyTo(OstQuant.Options.ostquant());
        assertThat(o.steps()).isEqualTo(20);
        assertThat(o.totalSteps(32)).isEqualTo(20);
        assertThat(o.batch()).isEqualTo(2);
        assertThat(o.rotationLr()).isEqualTo(OstQuant.Options.ostquant().rotationLr());
        assertThat(o.scaleLr()).isEqualTo(1e-3);
        assertThat(o.weightScaleLr()).as("an explicit rate applies to weight-only configs too").isEqualTo(1e-3);
        assertThat(o.weightRotationLr()).isEqualTo(2e-3);
        assertThat(o.loss()).isEqualTo(OstQuant.Loss.KL);
        assertThat(o.topK()).isEqualTo(50);
        assertThat(o.init()).isEqualTo(OstQuant.Init.IDENTITY);
        assertThat(o.rotationOptimizer()).isEqualTo(OstQuant.RotationOptimizer.RIEMANNIAN_ADAM);
        assertThat(o.scalings()).isFalse();
        assertThat(o.workDir()).isEqualTo(dir);
        assertThat(o.checkpointEvery()).isEqualTo(5);
        // the same flags on SpinQuant keep its optimizer and rate
        OstQuant.Options s = some.applyTo(OstQuant.Options.spinquant());
        assertThat(s.rotationOptimizer()).isEqualTo(OstQuant.RotationOptimizer.CAYLEY_SGD);
        assertThat(s.rotationLr()).isEqualTo(1.5);
        // OSTQuant's preset learns with smaller steps when weights are fake-quantized while learning (weight-only configs)
        assertThat(OstQuant.Options.ostquant().learningRates(QuantConfig.parse("W4A4KV4"))).containsExactly(5e-2, 1e-2);
        assertThat(OstQuant.Options.ostquant().learningRates(QuantConfig.parse("W4A16g32"))).containsExactly(2e-3, 2e-3);
        assertThat(OstQuant.Options.ostquant().withWeightsDuringLearning(true).learningRates(QuantConfig.parse("W4A4KV4"))).containsExactly(2e-3, 2e-3);
        assertThat(OstQuant.Options.spinquant().learningRates(QuantConfig.parse("W4A16g32"))).containsExactly(1.5, 0.0);
        assertThat(new OstQuant.Overrides(null, null, null, 0.3, null, null, null, null, null, null, null, null, null, null, null)
                .applyTo(OstQuant.Options.ostquant()).learningRates(QuantConfig.parse("W4A16g32"))).containsExactly(0.3, 2e-3);
        assertThat(OstQuant.Options.ostquant().totalSteps(32)).isEqualTo(8 * 8);
        assertThat(OstQuant.Options.ostquant().withBatch(5).totalSteps(32)).isEqualTo(8 * 7);
        assertThatThrownBy(() -> OstQuant.Options.ostquant().withStopAfter(3)).hasMessageContaining("work directory");
        assertThatThrownBy(() -> OstQuant.Options.ostquant().withTopK(0)).hasMessageContaining("k must be >= 1");
        assertThatThrownBy(() -> OstQuant.Options.ostquant().withCheckpointEvery(0)).hasMessageContaining("checkpointEvery");
    }
}
