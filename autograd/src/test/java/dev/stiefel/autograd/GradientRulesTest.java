package dev.stiefel.autograd;

import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.stiefel.autograd.Checks.assertGradients;
import static dev.stiefel.autograd.Checks.transposed;

/**
 * Every arithmetic, matmul, reduction and normalisation rule of {@link Var} against its f64 reference
 * ({@link NdArray}), on random inputs of odd sizes, with broadcasting and strided views as inputs.
 * Views and indexing are in {@link ViewGradientsTest}.
 */
class GradientRulesTest {
    final Random rnd = new Random(81);

    Tensor randn(int... shape) { return Checks.randn(rnd, shape); }

    Tensor positive(int... shape) { return Checks.positive(rnd, shape); }

    @Test void addAndSubBroadcastAndSumBack() {
        assertGradients(v -> v[0].add(v[1]), x -> x[0].add(x[1]), randn(7, 1, 5), randn(3, 5));
        assertGradients(v -> v[0].add(v[1]), x -> x[0].add(x[1]), randn(7, 5), randn(5));
        assertGradients(v -> v[0].sub(v[1]), x -> x[0].sub(x[1]), randn(3, 1, 5), randn(4, 1));
        assertGradients(v -> v[0].sub(v[1]), x -> x[0].sub(x[1]), randn(1), transposed(rnd, 33, 7));
    }

    @Test void mulAndDivBroadcastAndSumBack() {
        assertGradients(v -> v[0].mul(v[1]), x -> x[0].mul(x[1]), transposed(rnd, 7, 5), randn(7, 1));
        assertGradients(v -> v[0].mul(v[1]), x -> x[0].mul(x[1]), randn(7, 1, 5), transposed(rnd, 3, 5));
        assertGradients(v -> v[0].div(v[1]), x -> x[0].div(x[1]), randn(2, 3, 5), positive(3, 1));
        assertGradients(v -> v[1].div(v[0]), x -> x[1].div(x[0]), positive(7, 1, 5), randn(3, 5));
        // one value on both sides of one op: the two gradients add up
        assertGradients(v -> v[0].mul(v[0]).div(v[0].add(3f)), x -> x[0].mul(x[0]).div(x[0].add(3)), positive(5, 7));
    }

    @Test void scalarOps() {
        assertGradients(v -> v[0].add(2.5f).mul(-1.5f).neg().sub(0.7f).div(3f),
                x -> x[0].add(2.5).mul(-1.5).neg().sub(0.7).div(3), transposed(rnd, 7, 3));
    }

    @Test void unaryFunctions() {
        assertGradients(v -> v[0].exp(), x -> x[0].exp(), randn(7, 5));
        assertGradients(v -> v[0].log(), x -> x[0].log(), positive(33));
        assertGradients(v -> v[0].sqrt(), x -> x[0].sqrt(), positive(5, 7).t());
        assertGradients(v -> v[0].rsqrt(), x -> x[0].rsqrt(), positive(3, 11).t());
        assertGradients(v -> v[0].reciprocal(), x -> x[0].reciprocal(), positive(7, 3));
        assertGradients(v -> v[0].square(), x -> x[0].square(), Checks.everyOtherRow(randn(9, 5)));
        assertGradients(v -> v[0].pow(2.5f), x -> x[0].pow(2.5), positive(7, 3));
        assertGradients(v -> v[0].pow(-1.5f), x -> x[0].pow(-1.5), positive(5).reshape(5, 1));
        assertGradients(v -> v[0].tanh(), x -> x[0].tanh(), randn(5, 7));
        assertGradients(v -> v[0].sigmoid(), x -> x[0].sigmoid(), randn(5, 7).mul(3f));
        assertGradients(v -> v[0].silu(), x -> x[0].silu(), randn(5, 7).mul(3f).t());
        assertGradients(v -> v[0].abs(), x -> x[0].abs(), Checks.awayFromZero(rnd, 7, 5).t());
    }

    @Test void matmulBatchedBroadcastAndTransposed() {
        assertGradients(v -> v[0].matmul(v[1]), x -> x[0].matmul(x[1]), randn(7, 5), randn(5, 3));
        assertGradients(v -> v[0].matmul(v[1]), x -> x[0].matmul(x[1]), randn(3, 33), transposed(rnd, 33, 7));
        // x·Wᵀ with a batch, the transpose taken on the tape
        assertGradients(v -> v[0].matmul(v[1].t()), x -> x[0].matmul(x[1].t()), randn(2, 7, 5), randn(3, 5));
        // batch dims broadcast on both sides: [3, 1] against [2]
        assertGradients(v -> v[0].matmul(v[1]), x -> x[0].matmul(x[1]), randn(3, 1, 4, 5), randn(2, 5, 3));
        assertGradients(v -> v[0].t().matmul(v[1]), x -> x[0].t().matmul(x[1]), randn(5, 7), randn(5, 1));
        // a matrix times itself: both operand gradients reach one leaf
        assertGradients(v -> v[0].matmul(v[0]), x -> x[0].matmul(x[0]), transposed(rnd, 5, 5));
    }

    @Test void sumAndMeanAlongAnAxisAndOverAll() {
        assertGradients(v -> v[0].sum(1, false), x -> x[0].sum(1, false), randn(4, 7, 3));
        assertGradients(v -> v[0].sum(0, true), x -> x[0].sum(0, true), transposed(rnd, 7, 4));
        assertGradients(v -> v[0].mean(-1, false), x -> x[0].mean(-1, false), randn(4, 7));
        assertGradients(v -> v[0].mean(0, true), x -> x[0].mean(0, true), randn(5, 7, 2));
        assertGradients(v -> v[0].sum(), x -> x[0].sum(), transposed(rnd, 3, 5));
        assertGradients(v -> v[0].mean(), x -> x[0].mean(), randn(3, 5));
    }

    @Test void varianceBiasedAndUnbiased() {
        assertGradients(v -> v[0].var(-1, false, false), x -> x[0].var(-1, false, false), randn(5, 7));
        assertGradients(v -> v[0].var(0, true, true), x -> x[0].var(0, true, true), transposed(rnd, 7, 3));
        assertGradients(v -> v[0].var(1, false, true), x -> x[0].var(1, false, true), randn(2, 33, 3));
    }

    @Test void logsumexpAlongAnAxis() {
        assertGradients(v -> v[0].logsumexp(-1, false), x -> x[0].logsumexp(-1, false), randn(5, 7).mul(3f));
        assertGradients(v -> v[0].logsumexp(1, true), x -> x[0].logsumexp(1, true), transposed(rnd, 2, 7, 5));
    }

    @Test void maxAndMinAlongAnAxisAndElementWise() {
        // a ramp plus small noise: every row's extreme is unique and ±h cannot change which element it is
        Tensor ramp = Tensor.arange(35).reshape(5, 7).mul(0.37f).add(randn(5, 7).mul(0.01f));
        assertGradients(v -> v[0].max(1, false), x -> x[0].max(1, false), ramp);
        assertGradients(v -> v[0].max(0, true), x -> x[0].max(0, true), ramp.mul(-1f).t());
        assertGradients(v -> v[0].min(-1, true), x -> x[0].min(-1, true), ramp.mul(-1f));
        assertGradients(v -> v[0].min(0, false), x -> x[0].min(0, false), ramp.t());
        // element-wise, broadcast, the two sides at least 0.05 apart
        Tensor a = Checks.awayFromZero(rnd, 7, 1, 5), b = Tensor.uniform(rnd, -0.15f, 0.15f, 5, 3).t();
        assertGradients(v -> v[0].maximum(v[1]), x -> x[0].maximum(x[1]), a, b);
        assertGradients(v -> v[0].minimum(v[1]), x -> x[0].minimum(x[1]), a, b);
        assertGradients(v -> v[1].minimum(v[0]), x -> x[1].minimum(x[0]), a.mul(-1f), b);
    }

    @Test void clampPassesTheGradientOnlyInside() {
        Tensor x = Checks.awayFromZero(rnd, 5, 7);   // no element within 0.05 of ±1.15 or of the origin
        assertGradients(v -> v[0].clamp(-1.15f, 1.15f), a -> a[0].clamp(-1.15, 1.15), x);
        assertGradients(v -> v[0].clamp(0f, Float.MAX_VALUE), a -> a[0].clamp(0, Double.MAX_VALUE), x.t());
    }

    /** The tape differentiates round_ste as the identity: the reference is x plus its rounding offset frozen at the base point. */
    @Test void roundSteIsRoundForwardAndIdentityBackward() {
        Tensor x = Tensor.uniform(rnd, -4, 4, 7, 5).round().add(Tensor.uniform(rnd, -0.4f, 0.4f, 7, 5)).t();   // 0.1 from every jump
        NdArray x0 = NdArray.of(x), offset = x0.round().sub(x0);
        assertGradients(v -> v[0].roundSte(), a -> a[0].add(offset), x);
        assertGradients(v -> v[0].roundSte().mul(v[0]), a -> a[0].add(offset).mul(a[0]), x);
    }

    @Test void softmaxAndLogSoftmax() {
        assertGradients(v -> v[0].softmax(-1), x -> x[0].softmax(-1), randn(4, 7).mul(2f));
        assertGradients(v -> v[0].softmax(0), x -> x[0].softmax(0), transposed(rnd, 5, 3));
        assertGradients(v -> v[0].softmax(1), x -> x[0].softmax(1), randn(2, 5, 3));
        assertGradients(v -> v[0].logSoftmax(-1), x -> x[0].logSoftmax(-1), randn(3, 33));
        assertGradients(v -> v[0].logSoftmax(1), x -> x[0].logSoftmax(1), randn(2, 7, 3).permute(0, 2, 1));
    }

    @Test void rmsNormInputAndWeight() {
        assertGradients(v -> v[0].rmsNorm(v[1], 1e-5f), x -> x[0].rmsNorm(x[1], 1e-5), randn(5, 8), positive(8));
        assertGradients(v -> v[0].rmsNorm(v[1], 1e-5f), x -> x[0].rmsNorm(x[1], 1e-5), randn(7, 2, 5).permute(1, 2, 0), randn(7));
        assertGradients(v -> v[0].rmsNorm(v[1], 0.5f), x -> x[0].rmsNorm(x[1], 0.5), randn(1, 33), randn(33));
    }

    @Test void ropeInBothLayoutsOnStridedInputs() {
        int[] pos = {3, 0, 17, 100};
        for (Rope.Layout layout : Rope.Layout.values()) {
            Rope rope = new Rope(8, 10000, layout);
            boolean interleaved = layout == Rope.Layout.INTERLEAVED;
            double[] f = rope.invFreq();
            assertGradients(v -> v[0].rope(rope, pos), x -> x[0].rope(f, interleaved, pos), randn(4, 3, 8));
            assertGradients(v -> v[0].rope(rope, pos), x -> x[0].rope(f, interleaved, pos), randn(2, 8, 4).permute(2, 0, 1));
            // a batch dim in front, and explicit (LLaMA-3-style rescaled) frequencies
            Rope scaled = new Rope(new double[]{1.0, 0.3, 0.05}, layout);
            assertGradients(v -> v[0].rope(scaled, new int[]{5, 2}), x -> x[0].rope(new double[]{1.0, 0.3, 0.05}, interleaved, new int[]{5, 2}),
                    randn(3, 2, 1, 6));
        }
    }

    /** One attention head and a SwiGLU, as the LLaMA block composes them: the rules chained agree with the reference. */
    @Test void attentionAndSwiGluCompositions() {
        Tensor mask = Tensor.causalMask(5, 5);
        NdArray maskRef = NdArray.of(mask);
        assertGradients(v -> v[0].matmul(v[1].t()).mul(1f / (float) Math.sqrt(3)).add(Var.of(mask)).softmax(-1).matmul(v[2]),
                x -> x[0].matmul(x[1].t()).mul(1 / Math.sqrt(3)).add(maskRef).softmax(-1).matmul(x[2]),
                randn(5, 3), randn(5, 3), transposed(rnd, 5, 3));
        assertGradients(v -> v[0].rmsNorm(v[1], 1e-5f).matmul(v[2]).silu().mul(v[0].matmul(v[3])),
                x -> x[0].rmsNorm(x[1], 1e-5).matmul(x[2]).silu().mul(x[0].matmul(x[3])),
                randn(3, 7), positive(7), randn(7, 5), transposed(rnd, 7, 5));
    }
}
