package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class TapeTest {
    @Test
    void aValueUsedTwiceAccumulatesBothGradients() {
        // y = x·x + 3x  →  dy/dx = 2x + 3, through a shared intermediate used on two paths
        Tensor xv = Tensor.of(new float[]{1.5f, -2f, 0.25f}, 3);
        Var x = Var.param(xv);
        Var h = x.mul(3f);
        Var y = x.mul(x).add(h).sum();
        y.backward();
        assertThat(x.grad().toFloatArray()).containsExactly(6f, -1f, 3.5f);
        // z = h·h where h = 2x is used twice on one node: dz/dx = 8x
        Var x2 = Var.param(xv);
        Var h2 = x2.mul(2f);
        h2.mul(h2).sum().backward();
        assertThat(x2.grad().toFloatArray()).containsExactly(12f, -16f, 2f);
    }

    @Test
    void gradientsAccumulateAcrossBackwardCallsUntilZeroed() {
        Var w = Var.param(Tensor.of(new float[]{2f}, 1));
        w.mul(5f).sum().backward();
        w.mul(5f).sum().backward();
        assertThat(w.grad().item()).isEqualTo(10f);
        w.zeroGrad();
        assertThat(w.grad()).isNull();
    }

    @Test
    void noGradModeRecordsNothing() {
        Var w = Var.param(Tensor.randn(new Random(1), 3, 3));
        Var y;
        try (var off = Grad.off()) {
            y = w.matmul(w).sum();
            assertThat(Grad.enabled()).isFalse();
            try (var on = Grad.on()) { assertThat(Grad.enabled()).isTrue(); }
            assertThat(Grad.enabled()).isFalse();
        }
        assertThat(Grad.enabled()).isTrue();
        assertThat(y.requiresGrad()).isFalse();
        assertThat(y.isLeaf()).isTrue();
        assertThatThrownBy(y::backward).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void constantsAndDetachedValuesGetNoGradient() {
        Var a = Var.param(Tensor.of(new float[]{1f, 2f}, 2));
        Var c = Var.of(Tensor.of(new float[]{3f, 4f}, 2));
        Var d = a.mul(2f).detach();
        a.mul(c).add(d).sum().backward();
        assertThat(a.grad().toFloatArray()).containsExactly(3f, 4f);
        assertThat(c.grad()).isNull();
        assertThat(d.grad()).isNull();
    }

    @Test
    void theGraphIsFreedAfterBackward() {
        Var x = Var.param(Tensor.of(new float[]{1f, 2f}, 2));
        Var y = x.exp().sum();
        y.backward();
        assertThat((double) x.grad().get(1)).isCloseTo(Math.exp(2), within(1e-5));
        assertThatThrownBy(y::backward).isInstanceOf(IllegalStateException.class).hasMessageContaining("a second time");
    }

    @Test
    void backwardNeedsAScalarOrAMatchingSeed() {
        Var x = Var.param(Tensor.ones(2, 3));
        Var y = x.mul(2f);
        assertThatThrownBy(y::backward).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[2, 3]");
        assertThatThrownBy(() -> y.backward(Tensor.ones(3))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[3]");
        y.backward(Tensor.full(0.5f, 2, 3));
        assertThat(x.grad().toFloatArray()).containsOnly(1f);
    }

    @Test
    void deepChainsDoNotOverflowTheStack() {
        Var x = Var.param(Tensor.of(new float[]{1f}, 1));
        Var y = x;
        for (int i = 0; i < 20_000; i++) y = y.mul(1f);
        y.sum().backward();
        assertThat(x.grad().item()).isEqualTo(1f);
    }
}
