package dev.stiefel.quant.method;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.LogitError;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.transform.EquivalenceCheck;
import dev.stiefel.quant.transform.QkScaling;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OstQuantViewTest {
    private final Random rnd = new Random(17);

    static OstQuantView randomView(LlamaWeights fp, OstQuantView.Options o, Random rnd) {
        LlamaConfig c = fp.config();
        DMatrix[] heads = new DMatrix[c.layers()];
        for (int l = 0; l < heads.length; l++) heads[l] = Linalg.randomOrthogonal(c.headDim(), rnd);
        OstQuantView v = new OstQuantView(fp, o, Linalg.randomOrthogonal(c.dim(), rnd), heads);
        v.setLogScales(rnd, 0.5);
        return v;
    }

    @Test void withQuantizersOffTheViewIsTheOriginalModelForRandomRotationsAndScales() {
        for (LlamaConfig c : List.of(EquivalenceCheck.GQA, EquivalenceCheck.ODD)) {
            LlamaWeights fp = RandomModels.random(c, 3);
            List<Tensor> ids = RandomModels.sequences(rnd, 2, 13, c.vocabSize());
            for (boolean qkHadamard : List.of(false, true)) {
                OstQuantView v = randomView(fp, OstQuantView.Options.ostquant(qkHadamard), rnd);
                double err = LogitError.relative(new LlamaModel(fp), v.model(QuantConfig.FP, true), ids);
                assertThat(err).as("%s qk=%s", c, qkHadamard).isLessThan(1e-4);
            }
            OstQuantView spin = randomView(fp, OstQuantView.Options.spinquant(true), rnd);
            assertThat(spin.scales()).isEmpty();
            assertThat(LogitError.relative(new LlamaModel(fp), spin.model(QuantConfig.FP, true), ids)).isLessThan(1e-4);
        }
    }

    @Test void theQkScaleMustBeSharedByEachRotaryPair() {
        for (LlamaConfig c : List.of(EquivalenceCheck.GQA, EquivalenceCheck.ODD)) {
            LlamaWeights fp = RandomModels.random(c, 4);
            List<Tensor> ids = RandomModels.sequences(rnd, 1, 12, c.vocabSize());
            OstQuantView shared = randomView(fp, new OstQuantView.Options(true, false, false, true), new Random(1));
            OstQuantView notShared = randomView(fp, new OstQuantView.Options(true, false, false, false), new Random(1));
            LlamaModel ref = new LlamaModel(fp);
            assertThat(LogitError.relative(ref, shared.model(QuantConfig.FP, false), ids)).isLessThan(1e-4);
            assertThat(LogitError.relative(ref, notShared.model(QuantConfig.FP, false), ids)).as("%s", c.ropeLayout()).isGreaterThan(1e-2);
            // the f64 fold refuses unshared scales by name
            double[][] s = new double[c.layers()][c.kvDim()];
            for (double[] row : s) java.util.Arrays.fill(row, 1);
            s[1][QkScaling.partner(c.ropeLayout(), c.headDim(), 2, 1)] = 2;
            assertThatThrownBy(() -> Transforms.fuse(fp, List.of(new QkScaling(s)))).hasMessageContaining("rotary pair 2");
        }
    }

    @Test void theFusedTransformsAreExactInF64AndMatchTheView() {
        for (LlamaConfig c : List.of(EquivalenceCheck.GQA, EquivalenceCheck.ODD)) {
            LlamaWeights fp = RandomModels.random(c, 5);
            OstQuantView v = randomView(fp, OstQuantView.Options.ostquant(true), rnd);
            // f64: the fused pipeline against the independent f64 forward of the original model (< 1e-8)
            Transforms.Fused fused = EquivalenceCheck.assertEquivalent(fp, v.pipeline(), rnd);
            // the fused f32 model against the view it came from
            List<Tensor> ids = RandomModels.sequences(rnd, 2, 11, c.vocabSize());
            assertThat(LogitError.relative(v.model(QuantConfig.FP, true), fused.model(), ids)).isLessThan(1e-4);
            assertThat(LogitError.relative(v.model(QuantConfig.FP, true), v.fuse().model(), ids)).isLessThan(1e-4);
        }
    }

    /**
     * Qwen2: the view carries b_q, b_k (Q→K scale) and b_v (R_h and the V→O scale) through its bias hook, and the fused
     * pipeline is exact in f64. Qwen3: the Q→K scaling is skipped (with its reason), everything else is exact.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = LlamaConfig.Architecture.class, names = {"QWEN2", "QWEN3"})
    void onQwenTheViewIsTheOriginalModelAndItsFusedTransformsAreExact(LlamaConfig.Architecture arch) {
        for (LlamaConfig base : List.of(EquivalenceCheck.GQA, EquivalenceCheck.ODD)) {
            LlamaConfig c = RandomModels.qwen(base, arch);
            LlamaWeights fp = RandomModels.random(c, 5);
            List<Tensor> ids = RandomModels.sequences(rnd, 2, 11, c.vocabSize());
            for (OstQuantView.Options o : List.of(OstQuantView.Options.ostquant(true), OstQuantView.Options.spinquant(false))) {
                OstQuantView v = randomView(fp, o, rnd);
                assertThat(LogitError.relative(new LlamaModel(fp), v.model(QuantConfig.FP, true), ids)).as("%s %s", c, o).isLessThan(1e-4);
                Transforms.Fused fused = EquivalenceCheck.assertEquivalent(fp, v.pipeline(), rnd);
                assertThat(LogitError.relative(v.model(QuantConfig.FP, true), fused.model(), ids)).isLessThan(1e-4);
                boolean skips = o.scalings() && arch.qkNorm();
                assertThat(v.skipped()).as("%s", o).hasSize(skips ? 1 : 0);
                assertThat(fused.steps()).as("%s", o).noneMatch(step -> skips && step.contains("between Q and K"));
            }
        }
    }

    @Test void fakeQuantizationChangesTheViewAndGradientsReachEveryTransform() {
        LlamaConfig c = EquivalenceCheck.GQA;
        LlamaWeights fp = RandomModels.random(c, 6);
        OstQuantView v = randomView(fp, OstQuantView.Options.ostquant(true), rnd);
        List<Tensor> ids = RandomModels.sequences(rnd, 1, 10, c.vocabSize());
        QuantConfig w4a4 = QuantConfig.parse("W4A4KV4");
        assertThat(LogitError.relative(new LlamaModel(fp), v.model(w4a4, true), ids)).isGreaterThan(1e-3);
        var logits = v.model(w4a4, true).forward(ids.get(0), null);
        logits.square().mean().backward();
        for (var p : v.rotations()) assertThat(largestGradient(p)).as("%s", java.util.Arrays.toString(p.shape())).isFinite().isGreaterThan(1e-9);
        for (var p : v.scales()) assertThat(largestGradient(p)).as("%s", java.util.Arrays.toString(p.shape())).isFinite().isGreaterThan(1e-9);
    }

    private static double largestGradient(dev.stiefel.autograd.Var p) {
        double largest = 0;
        for (float x : p.grad().toFloatArray()) largest = Math.max(largest, Math.abs(x));
        return largest;
    }

    /**
     * With nothing quantized the loss does not depend on the scalings at all (each cancels exactly), so their gradients
     * must vanish; it does depend on R and R_h off the manifold (R·Rᵀ ≠ I), and those gradients must match central
     * differences along a random direction.
     */
    @Test void gradientsMatchFiniteDifferencesAndVanishForTheScalingsWhenNothingIsQuantized() {
        LlamaConfig c = EquivalenceCheck.GQA;
        LlamaWeights fp = RandomModels.random(c, 8);
        OstQuantView v = randomView(fp, OstQuantView.Options.ostquant(true), rnd);
        Tensor ids = RandomModels.sequences(rnd, 1, 9, c.vocabSize()).get(0);
        // a linear functional of the logits, so the gradient is non-zero at the equivalence point
        Tensor weights = Tensor.randn(rnd, 1, 9, c.vocabSize());
        java.util.function.Supplier<dev.stiefel.autograd.Var> loss = () -> v.model(QuantConfig.FP, false).forward(ids, null)
                .mul(dev.stiefel.autograd.Var.of(weights)).sum();
        loss.get().backward();
        double rotationGradient = 0;
        for (var p : v.rotations()) {
            float[] g = p.grad().toFloatArray(), x = p.value().toFloatArray();
            float[] d = Tensor.randn(rnd, x.length).toFloatArray();
            double analytic = 0;
            for (int i = 0; i < g.length; i++) analytic += g[i] * d[i];
            double h = 1e-3, plus, minus;
            float[] y = x.clone();
            for (int i = 0; i < y.length; i++) y[i] = (float) (x[i] + h * d[i]);
            p.value().copyFrom(Tensor.wrap(y, p.shape()));
            try (var _ = dev.stiefel.autograd.Grad.off()) { plus = loss.get().value().toFloatArray()[0]; }
            for (int i = 0; i < y.length; i++) y[i] = (float) (x[i] - h * d[i]);
            p.value().copyFrom(Tensor.wrap(y, p.shape()));
            try (var _ = dev.stiefel.autograd.Grad.off()) { minus = loss.get().value().toFloatArray()[0]; }
            p.value().copyFrom(Tensor.wrap(x, p.shape()));
            double numeric = (plus - minus) / (2 * h);
            assertThat(numeric).as("%s: analytic %s numeric %s", java.util.Arrays.toString(p.shape()), analytic, numeric)
                    .isCloseTo(analytic, org.assertj.core.api.Assertions.within(2e-2 * Math.max(1, Math.abs(analytic))));
            rotationGradient = Math.max(rotationGradient, Math.abs(analytic));
        }
        assertThat(rotationGradient).isGreaterThan(1);
        for (var p : v.scales())
            for (float g : p.grad().toFloatArray()) assertThat(Math.abs(g)).isLessThan((float) (1e-4 * rotationGradient));
    }
}
