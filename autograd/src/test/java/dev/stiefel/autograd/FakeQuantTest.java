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

    /**
     * Straight-through rounding has no derivative of its own to difference; what the tape computes is the gradient
     * of the function with round(u) replaced by u + (round(u₀) − u₀), the offset frozen at the unperturbed point.
     * That function is the f64 reference, and the inputs keep u₀ at least 0.05 from a rounding jump and the
     * integer q at least 0.05 from a clamp bound, so ±h crosses neither.
     */
    @Test
    void quantizeGradientsOfInputScaleAndZeroAgainstTheStraightThroughReference() {
        Random rnd = new Random(94);
        int rows = 5, cols = 7, qmin = -8, qmax = 7;
        Tensor scale = Tensor.uniform(rnd, 0.05f, 0.2f, rows, 1);
        Tensor zero = Tensor.uniform(rnd, 0.1f, 0.9f, rows, 1).add(Tensor.uniform(rnd, -3, 3, rows, 1).round());
        // x = s·(k + δ) with k on both sides of the grid (some elements clip) and |δ| <= 0.4
        Tensor k = Tensor.uniform(rnd, qmin - 6, qmax + 6, cols, rows).round().t();
        Tensor x = k.add(Tensor.uniform(rnd, -0.4f, 0.4f, rows, cols)).mul(scale);
        NdArray u0 = NdArray.of(x).div(NdArray.of(scale));
        NdArray offset = u0.round().sub(u0);
        NdArray q0 = u0.round().add(NdArray.of(zero));
        for (int i = 0; i < u0.numel(); i++) {
            assertThat(Math.abs(offset.data[i])).as("distance of x/s from a rounding jump").isLessThan(0.45);
            assertThat(Math.min(Math.abs(q0.data[i] - qmin), Math.abs(q0.data[i] - qmax))).as("distance from a clamp bound").isGreaterThan(0.05);
        }
        Checks.assertGradients(v -> FakeQuant.quantize(v[0], v[1], v[2], qmin, qmax),
                a -> a[0].div(a[1]).add(offset).add(a[2]).clamp(qmin, qmax).sub(a[2]).mul(a[1]), x, scale, zero);
    }

    /**
     * OmniQuant's learnable clipping: the gradients of γ and β through σ, the scale, the rounded zero point and the
     * clamp. The reference freezes both rounding offsets (x/s and xmin/s) and the row extremes, as the tape does;
     * elements that would sit on a rounding jump or on a clamp bound at the base point are redrawn.
     */
    @Test
    void learnableClippingGradientsAgainstTheStraightThroughReference() {
        Random rnd = new Random(95);
        int rows = 3, cols = 33, bits = 3, levels = 7;
        double[] x = new double[rows * cols], gamma = new double[rows], beta = new double[rows];
        for (int r = 0; r < rows; r++) {
            double[] p = clippingRow(rnd, x, r, cols, levels);
            gamma[r] = p[0];
            beta[r] = p[1];
        }
        Tensor xt = tensor(x, rows, cols);
        NdArray xs = NdArray.of(xt);
        NdArray rowMax = xs.max(-1, true), rowMin = xs.min(-1, true);
        NdArray g0 = NdArray.of(tensor(gamma, rows, 1)), b0 = NdArray.of(tensor(beta, rows, 1));
        NdArray s0 = clippingScale(g0, b0, rowMax, rowMin, levels);
        NdArray zu0 = b0.sigmoid().mul(rowMin).div(s0), xu0 = xs.div(s0);
        NdArray zeroOffset = zu0.round().sub(zu0), xOffset = xu0.round().sub(xu0);
        Checks.assertGradients(v -> FakeQuant.learnableClipping(Var.of(xt), v[0], v[1], bits), a -> {
            NdArray s = clippingScale(a[0], a[1], rowMax, rowMin, levels);
            NdArray zero = a[1].sigmoid().mul(rowMin).div(s).add(zeroOffset).neg();
            return xs.div(s).add(xOffset).add(zero).clamp(0, levels).sub(zero).mul(s);
        }, tensor(gamma, rows, 1), tensor(beta, rows, 1));
    }

    /** s = (σ(γ)·max − σ(β)·min) / levels, kept above 1e-5 as FakeQuant does. */
    private static NdArray clippingScale(NdArray gamma, NdArray beta, NdArray rowMax, NdArray rowMin, int levels) {
        return gamma.sigmoid().mul(rowMax).sub(beta.sigmoid().mul(rowMin)).div(levels).clamp(1e-5, Float.MAX_VALUE);
    }

    /**
     * Fills row r of x with values in [−2, 2] whose extremes clip by more than one step, and returns the row's γ and β;
     * every element's x/s and xmin/s keep 0.05 from a rounding jump and its integer q stays off 0 and levels.
     */
    private static double[] clippingRow(Random rnd, double[] x, int r, int cols, int levels) {
        while (true) {
            float max = 1 + rnd.nextFloat(), min = -1 - rnd.nextFloat();
            double gamma = (float) (0.3 + rnd.nextDouble()), beta = (float) (0.3 + rnd.nextDouble());
            double s = (sigmoid(gamma) * max - sigmoid(beta) * min) / levels, zu = sigmoid(beta) * min / s;
            if (nearJump(zu)) continue;
            double z = -Math.rint(zu);
            x[r * cols] = max;
            x[r * cols + 1] = min;
            if (!fits(max, s, z, levels) || !fits(min, s, z, levels)) continue;
            for (int c = 2; c < cols; c++) {
                float v;
                do v = min + (max - min) * rnd.nextFloat(); while (!fits(v, s, z, levels));
                x[r * cols + c] = v;
            }
            return new double[]{gamma, beta};
        }
    }

    private static boolean fits(float v, double s, double z, int levels) {
        double q = Math.rint(v / s) + z;
        return !nearJump(v / s) && q != 0 && q != levels;
    }

    private static boolean nearJump(double u) { return Math.abs(Math.abs(u - Math.rint(u)) - 0.5) < 0.05; }

    private static double sigmoid(double v) { return 1 / (1 + Math.exp(-v)); }

    private static Tensor tensor(double[] v, int... shape) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return Tensor.wrap(f, shape);
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
