package dev.stiefel.autograd;

import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/** A finite-difference check for every backward rule, with broadcasting and strided (transposed) inputs. */
class GradientRulesTest {
    final Random rnd = new Random(81);

    Tensor randn(int... shape) { return Tensor.randn(rnd, shape); }

    /** Positive values away from 0, for log/sqrt/div/pow. */
    Tensor positive(int... shape) { return Tensor.uniform(rnd, 0.5f, 2f, shape); }

    void assertGradients(Function<Var[], Var> f, Tensor... inputs) {
        GradCheck.Result r = GradCheck.check(f, inputs);
        assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s", r).isTrue();
    }

    @Test void addSubMulDivWithBroadcasting() {
        assertGradients(v -> v[0].add(v[1]), randn(7, 5), randn(5));
        assertGradients(v -> v[0].sub(v[1]), randn(3, 1, 5), randn(4, 1));
        assertGradients(v -> v[0].mul(v[1]), randn(5, 7).t(), randn(7, 1));
        assertGradients(v -> v[0].div(v[1]), randn(2, 3, 4), positive(3, 1));
        assertGradients(v -> v[0].add(2.5f).mul(-1.5f).neg(), randn(7, 3).t());
    }

    @Test void unaryFunctions() {
        assertGradients(v -> v[0].exp(), randn(7, 5));
        assertGradients(v -> v[0].log(), positive(33));
        assertGradients(v -> v[0].sqrt(), positive(5, 7).t());
        assertGradients(v -> v[0].square(), randn(7));
        assertGradients(v -> v[0].pow(2.5f), positive(7, 3));
        assertGradients(v -> v[0].tanh(), randn(5, 7));
        assertGradients(v -> v[0].sigmoid(), randn(5, 7).mul(3f));
        assertGradients(v -> v[0].silu(), randn(5, 7).mul(3f).t());
    }

    @Test void matmulBatchedBroadcastAndTransposed() {
        assertGradients(v -> v[0].matmul(v[1]), randn(7, 5), randn(5, 3));
        assertGradients(v -> v[0].matmul(v[1].t()), randn(2, 7, 5), randn(3, 5));          // x·Wᵀ with a batch
        assertGradients(v -> v[0].matmul(v[1]), randn(3, 1, 4, 5), randn(2, 5, 3));       // both batch dims broadcast
        assertGradients(v -> v[0].t().matmul(v[1]), randn(5, 7), randn(5, 2));
    }

    @Test void reductions() {
        assertGradients(v -> v[0].sum(1, false), randn(4, 7, 3));
        assertGradients(v -> v[0].sum(0, true), randn(4, 7).t());
        assertGradients(v -> v[0].mean(-1, false), randn(4, 7));
        assertGradients(v -> v[0].mean(0, true), randn(4, 7, 2));
        assertGradients(v -> v[0].mean(), randn(3, 5));
    }

    @Test void softmaxAndLogSoftmax() {
        assertGradients(v -> v[0].softmax(-1), randn(4, 7));
        assertGradients(v -> v[0].softmax(0), randn(5, 3).t());
        assertGradients(v -> v[0].logSoftmax(-1), randn(4, 9));
        assertGradients(v -> v[0].logSoftmax(1), randn(2, 6, 3));
    }

    @Test void rmsNormInputAndWeight() {
        assertGradients(v -> v[0].rmsNorm(v[1], 1e-5f), randn(5, 8), positive(8));
        assertGradients(v -> v[0].rmsNorm(v[1], 1e-5f), randn(8, 2, 5).permute(1, 2, 0), randn(8));
    }

    @Test void rope() {
        for (Rope.Layout layout : Rope.Layout.values()) {
            Rope rope = new Rope(8, 10000, layout);
            int[] pos = {3, 0, 17, 100};
            assertGradients(v -> v[0].rope(rope, pos), randn(4, 2, 8));
            assertGradients(v -> v[0].rope(rope, pos), randn(2, 8, 4).permute(2, 0, 1));
        }
    }

    @Test void viewsConcatAndEmbedding() {
        assertGradients(v -> v[0].reshape(5, -1), randn(3, 5, 2).t());
        assertGradients(v -> v[0].permute(2, 0, 1), randn(3, 4, 5));
        assertGradients(v -> v[0].transpose(0, 1).matmul(v[1]), randn(5, 3), randn(5, 2));
        assertGradients(v -> v[0].narrow(1, 2, 3), randn(4, 7));
        assertGradients(v -> Var.concat(1, v[0], v[1].t(), v[0]), randn(3, 2), randn(4, 3));
        Tensor ids = Tensor.ofInts(new int[]{4, 0, 4, 2, 6, 4}, 2, 3);
        assertGradients(v -> v[0].embedding(ids), randn(7, 5));
    }

    @Test void clampMaximumMaxAndGather() {
        // inputs kept away from the kinks (|x| in [0.3, 2], bounds at ±0.15·k) so ±h never crosses one
        Tensor x = Tensor.uniform(rnd, 0.3f, 2f, 5, 7).mul(Tensor.uniform(rnd, -1, 1, 5, 7).ge(0f).mul(2f).sub(1f));
        assertGradients(v -> v[0].clamp(-1.15f, 1.15f), x);
        assertGradients(v -> v[0].maximum(v[1]), x, x.mul(-1f).add(0.05f));
        assertGradients(v -> v[0].max(1, false), Tensor.arange(35).reshape(5, 7).mul(0.37f).add(randn(5, 7).mul(0.01f)));
        assertGradients(v -> v[0].max(0, true), Tensor.arange(35).reshape(7, 5).mul(-0.41f).add(randn(7, 5).mul(0.01f)).t());
        Tensor index = Tensor.ofInts(new int[]{2, 2, 0, 6, 1, 3}, 2, 3);
        assertGradients(v -> v[0].gather(1, index), randn(2, 7));
    }

    @Test void aWrongRuleIsCaught() {
        // the checker itself must fail on a wrong gradient: x² with the rule of x³
        GradCheck.Result r = GradCheck.check(v -> Var.record("bad", v[0].value().square(), g -> new Tensor[]{g.mul(v[0].value().square()).mul(3f)}, v[0]),
                randn(7));
        assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).isFalse();
    }
}
