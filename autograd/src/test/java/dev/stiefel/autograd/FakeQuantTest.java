package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class FakeQuantTest {
    @Test
    void straightThroughGradientsInsideAndOutsideTheRange() {
        // s = 0.1, z = 0, grid [-8, 7]: x = 0.37 → round(3.7) = 4 → y = 0.4; x = 2.0 → 20 clips to 7 → y = 0.7
        Var x = Var.param(Tensor.of(new float[]{0.37f, 2.0f}, 2));
        Var s = Var.param(Tensor.of(new float[]{0.1f}, 1));
        Var z = Var.param(Tensor.of(new float[]{0f}, 1));
        Var y = FakeQuant.quantize(x, s, z, -8, 7);
        assertThat(y.value().toFloatArray()).containsExactly(new float[]{0.4f, 0.7f}, org.assertj.core.data.Offset.offset(1e-6f));
        y.sum().backward();
        assertThat(x.grad().toFloatArray()).containsExactly(1f, 0f);           // STE inside, zero where clipped
        // dy/ds: inside round(x/s) − x/s = 4 − 3.7; clipped qmax − z = 7
        assertThat((double) s.grad().item()).isCloseTo((4 - 3.7) + 7, within(1e-4));
        // dy/dz: 0 inside, −s where clipped
        assertThat((double) z.grad().item()).isCloseTo(-0.1, within(1e-6));
    }

    @Test
    void forwardMatchesTheIntegerFormula() {
        Random rnd = new Random(92);
        Tensor x = Tensor.randn(rnd, 5, 33);
        float scale = 0.07f, zero = 3f;
        float[] y = FakeQuant.quantize(Var.of(x), Var.of(Tensor.scalar(scale)), Var.of(Tensor.scalar(zero)), 0, 15).value().toFloatArray();
        float[] xs = x.toFloatArray();
        for (int i = 0; i < xs.length; i++) {
            float q = Math.min(Math.max((float) Math.rint(xs[i] / scale) + zero, 0), 15);
            assertThat(y[i]).isEqualTo((q - zero) * scale);
        }
    }

    @Test
    void learnableClippingStartsNearMinMaxAndTrainsTheClippingFactors() {
        Random rnd = new Random(93);
        Tensor w = Tensor.randn(rnd, 6, 64);
        Var gamma = Var.param(Tensor.full(4f, 6, 1)), beta = Var.param(Tensor.full(4f, 6, 1));
        Var y = FakeQuant.learnableClipping(Var.of(w), gamma, beta, 4);
        // σ(4) ≈ 0.982 of each row's range, 16 levels: the error stays within half a step of that range
        double range = w.max(-1, true).sub(w.min(-1, true)).max().item();
        assertThat(y.value().maxAbsDiff(w)).isLessThan(0.6 * range / 15 + 0.02 * range);
        Losses.mse(y, w).backward();
        assertThat(gamma.grad().abs().sum().item()).isGreaterThan(0f);
        assertThat(beta.grad().abs().sum().item()).isGreaterThan(0f);
        // a few AdamW steps on the clipping factors lower the quantization error
        double before = Losses.mse(FakeQuant.learnableClipping(Var.of(w), gamma, beta, 3), w).value().item();
        Optimizer opt = Optimizer.adamW(java.util.List.of(gamma, beta), LrSchedule.constant(5e-2), 0);
        for (int i = 0; i < 100; i++) {
            opt.zeroGrad();
            Losses.mse(FakeQuant.learnableClipping(Var.of(w), gamma, beta, 3), w).backward();
            opt.step();
        }
        double after = Losses.mse(FakeQuant.learnableClipping(Var.of(w), gamma, beta, 3), w).value().item();
        assertThat(after).isLessThan(before);
    }
}
