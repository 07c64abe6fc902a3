package dev.stiefel.quant.method;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Rope;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A few OSTQuant learning steps (rotations on the Stiefel manifold, scalings, W4A4KV4 fake quantization with the
 * straight-through estimator, KL-Top loss) and SpinQuant's (Cayley SGD, cross-entropy) on the OpenCL backend give the
 * CPU's losses, up to f32 rounding order.
 * Skipped when the machine has no OpenCL platform.
 */
class OstQuantOnOpenClTest {
    private static final LlamaConfig C = RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false);

    @Test void learningStepsOnOpenClMatchTheCpu() {
        assertSameLearning(OstQuant.Options.ostquant().withEpochs(2).withBatch(2), true);
    }

    /**
     * SpinQuant's recipe: Cayley SGD on the rotations, cross-entropy on the calibration text (four steps at its rate of
     * 1.5 do not lower this random model's loss, on the CPU either: the rotations move, the loss is compared).
     */
    @Test void spinQuantStepsOnOpenClMatchTheCpu() {
        assertSameLearning(OstQuant.Options.spinquant().withEpochs(2).withBatch(2), false);
    }

    private static void assertSameLearning(OstQuant.Options o, boolean lowersTheLoss) {
        Backend cl;
        try {
            cl = Backends.byName("opencl");
        } catch (RuntimeException e) {
            Assumptions.abort("skipped: no OpenCL backend here (" + e.getMessage() + ")");
            return;
        }
        Random rnd = new Random(23);
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < 4; i++) s.add(RandomModels.tokens(rnd, 24, C.vocabSize()));
        CalibrationData calib = new CalibrationData(s, "random tokens", 23);
        LlamaWeights fp = RandomModels.withOutliers(RandomModels.random(C, 7), 10, 2, 3);
        QuantConfig w4a4 = QuantConfig.parse("W4A4KV4");
        Backend before = Backends.current();
        OstQuant.Learning cpu, gpu;
        try {
            Backends.use(CpuBackend.INSTANCE);
            cpu = OstQuant.learn(fp, OstQuant.initialView(fp, w4a4, o), calib, w4a4, o, ProgressFactory.SILENT);
            Backends.use(cl);
            gpu = OstQuant.learn(fp, OstQuant.initialView(fp, w4a4, o), calib, w4a4, o, ProgressFactory.SILENT);
        } finally {
            Backends.use(before);
        }
        assertThat(gpu.steps()).isEqualTo(cpu.steps()).isEqualTo(4);
        assertThat(relative(gpu.lossBefore(), cpu.lossBefore())).as("before: cpu %s, opencl %s", cpu, gpu).isLessThan(1e-4);
        assertThat(relative(gpu.lossAfter(), cpu.lossAfter())).as("after: cpu %s, opencl %s", cpu, gpu).isLessThan(1e-3);
        assertThat(relative(gpu.lastEpochLoss(), cpu.lastEpochLoss())).as("last epoch: cpu %s, opencl %s", cpu, gpu).isLessThan(1e-3);
        if (lowersTheLoss) assertThat(gpu.lossAfter()).isLessThan(gpu.lossBefore());
        else assertThat(gpu.lossAfter()).as("learning moved the model").isNotEqualTo(gpu.lossBefore());
    }

    private static double relative(double a, double b) { return Math.abs(a - b) / Math.abs(b); }
}
