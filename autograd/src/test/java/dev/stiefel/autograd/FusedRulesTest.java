package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Finite-difference checks of the fused ops on the tape (SwiGLU, attention), and agreement of each with the
 * composition of primitive ops it replaces, in value and in gradient.
 */
class FusedRulesTest {
    final Random rnd = new Random(91);

    Tensor randn(int... shape) { return Tensor.randn(rnd, shape); }

    void assertGradients(Function<Var[], Var> f, Tensor... inputs) {
        GradCheck.Result r = GradCheck.check(f, inputs);
        assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s", r).isTrue();
    }

    @Test void swigluGradients() {
        assertGradients(v -> v[0].swiglu(v[1]), randn(5, 7).mul(2f), randn(5, 7));
        assertGradients(v -> v[0].swiglu(v[1]), randn(7, 5).mul(2f).t(), randn(5, 7));
    }

    @Test void attentionGradientsWithGroupedHeadsAndMasks() {
        Tensor causal = Tensor.causalMask(5, 6), soft = Tensor.uniform(rnd, -2, 0, 5, 6);
        for (Tensor mask : new Tensor[]{null, causal, soft}) {
            assertGradients(v -> Var.attention(v[0], v[1], v[2], mask, 0.5f), randn(5, 4, 3), randn(6, 2, 3), randn(6, 2, 2));
            // head-major q, k, v permuted to token-major (strided views), as a caller might pass them
            assertGradients(v -> Var.attention(v[0].permute(1, 0, 2), v[1].permute(1, 0, 2), v[2].permute(1, 0, 2), mask, 0.7f),
                    randn(2, 5, 3), randn(2, 6, 3), randn(2, 6, 3));
        }
        // a leading batch dim
        assertGradients(v -> Var.attention(v[0], v[1], v[2], Tensor.causalMask(4, 4), 0.6f), randn(2, 4, 2, 3), randn(2, 4, 1, 3), randn(2, 4, 1, 3));
    }

    /** Attention composed of primitive ops on the tape: permute to head-major, matmul, scale, mask, softmax, matmul. */
    static Var composedAttention(Var q, Var k, Var v, Tensor mask, float scale) {
        Var qh = q.permute(1, 0, 2), kh = k.permute(1, 0, 2), vh = v.permute(1, 0, 2);
        Var scores = qh.matmul(kh.transpose(1, 2)).mul(scale);
        if (mask != null) scores = scores.add(Var.of(mask));
        return scores.softmax(-1).matmul(vh).permute(1, 0, 2);
    }

    @Test void fusedOpsAgreeWithTheirCompositions() {
        Tensor q = randn(9, 4, 8), k = randn(9, 4, 8), v = randn(9, 4, 8), mask = Tensor.causalMask(9, 9), w = randn(9, 4, 8);
        Var[] fused = {Var.param(q), Var.param(k), Var.param(v)}, plain = {Var.param(q), Var.param(k), Var.param(v)};
        Var a = Var.attention(fused[0], fused[1], fused[2], mask, 0.35f), b = composedAttention(plain[0], plain[1], plain[2], mask, 0.35f);
        assertThat(a.value().maxAbsDiff(b.value())).isLessThan(1e-5);
        a.mul(Var.of(w)).sum().backward();
        b.mul(Var.of(w)).sum().backward();
        for (int i = 0; i < 3; i++) assertThat(fused[i].grad().maxAbsDiff(plain[i].grad())).as("input %d", i).isLessThan(1e-4);

        Tensor gate = randn(7, 33).mul(3f), up = randn(7, 33), g = randn(7, 33);
        Var ga = Var.param(gate), ua = Var.param(up), gb = Var.param(gate), ub = Var.param(up);
        Var s = ga.swiglu(ua), c = gb.silu().mul(ub);
        assertThat(s.value().maxAbsDiff(c.value())).isLessThan(1e-5);
        s.mul(Var.of(g)).sum().backward();
        c.mul(Var.of(g)).sum().backward();
        assertThat(ga.grad().maxAbsDiff(gb.grad())).isLessThan(1e-5);
        assertThat(ua.grad().maxAbsDiff(ub.grad())).isLessThan(1e-5);
    }
}
