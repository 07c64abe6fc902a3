package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The checker itself: it must pass right rules, and fail wrong rules, wrong forwards and malformed references. */
class GradCheckTest {
    final Random rnd = new Random(83);

    /** x² on the tape, its backward rule multiplied by {@code factor}. */
    static Var squareWithRuleTimes(Var x, float factor) {
        Tensor v = x.value();
        return Var.record("square_scaled_rule", v.square(), g -> new Tensor[]{g.mul(v).mul(2f * factor)}, x);
    }

    @Test void aRightRulePassesAndAWrongOneFails() {
        Tensor x = Tensor.randn(rnd, 7, 3);
        GradCheck.Result right = Checks.check(v -> squareWithRuleTimes(v[0], 1f), a -> a[0].square(), x);
        assertThat(right.passed(GradCheck.REFERENCE_TOLERANCE)).as("%s", right).isTrue();
        assertThat(right.worstError()).isLessThan(1e-6);
        // the rule of x³ for x²
        GradCheck.Result wrong = GradCheck.check(v -> Var.record("bad", v[0].value().square(),
                g -> new Tensor[]{g.mul(v[0].value().square()).mul(3f)}, v[0]), xs -> square(xs[0]), x);
        assertThat(wrong.passed(GradCheck.REFERENCE_TOLERANCE)).isFalse();
    }

    @Test void aRuleOffByOnePartInAThousandFails() {
        GradCheck.Result r = Checks.check(v -> squareWithRuleTimes(v[0], 1.001f), a -> a[0].square(), Tensor.randn(rnd, 33));
        assertThat(r.passed(GradCheck.REFERENCE_TOLERANCE)).as("%s", r).isFalse();
        assertThat(r.worstError()).isBetween(3e-4, 1e-3);
    }

    @Test void aForwardThatDisagreesWithTheReferenceFails() {
        // the same derivative, an output shifted by a constant: only the forward comparison can see it
        GradCheck.Result r = Checks.check(v -> v[0].exp(), a -> a[0].exp().add(0.01), Tensor.randn(rnd, 5, 7));
        assertThat(r.worstError()).isLessThan(1e-6);
        assertThat(r.forwardError()).isGreaterThan(GradCheck.REFERENCE_TOLERANCE);
        assertThat(r.passed(GradCheck.REFERENCE_TOLERANCE)).isFalse();
        assertThat(r.toString()).contains("forward error");
    }

    @Test void aGradientSentToTheWrongElementFails() {
        // the values of a slice right, their gradients shifted by one place
        Tensor x = Tensor.randn(rnd, 9);
        GradCheck.Result r = Checks.check(v -> Var.record("shifted", v[0].value().narrow(0, 2, 5), g -> {
            Tensor dx = Tensor.zeros(9);
            dx.narrow(0, 3, 5).copyFrom(g);
            return new Tensor[]{dx};
        }, v[0]), a -> a[0].narrow(0, 2, 5), x);
        assertThat(r.passed(GradCheck.REFERENCE_TOLERANCE)).isFalse();
    }

    @Test void theReferenceSeesAViewInRowMajorOrderOfItsShape() {
        Tensor view = Tensor.randn(rnd, 5, 3).t();                    // [3, 5], column-major underneath
        double[][] seen = new double[1][];
        GradCheck.Result r = GradCheck.check(v -> v[0].mul(1f), xs -> seen[0] = xs[0], view);
        assertThat(r.passed(GradCheck.REFERENCE_TOLERANCE)).as("%s", r).isTrue();
        assertThat(r.forwardError()).isZero();
        assertThat(seen[0][1]).isEqualTo(view.get(0, 1));
    }

    @Test void aReferenceOfTheWrongLengthIsRejected() {
        assertThatThrownBy(() -> GradCheck.check(v -> v[0].sum(0, false), xs -> new double[3], Tensor.randn(rnd, 3, 4)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3 values").hasMessageContaining("[4]");
    }

    @Test void theF32SelfCheckPassesACompositionAndFailsAWrongRule() {
        Tensor x = Tensor.randn(rnd, 4, 5), w = Tensor.uniform(rnd, 0.5f, 1.5f, 5);
        GradCheck.Result ok = GradCheck.check(v -> v[0].rmsNorm(v[1], 1e-5f).silu().logSoftmax(-1), x, w);
        assertThat(ok.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s", ok).isTrue();
        GradCheck.Result bad = GradCheck.check(v -> squareWithRuleTimes(v[0], 1.5f), x);
        assertThat(bad.passed(GradCheck.DEFAULT_TOLERANCE)).isFalse();
    }

    private static double[] square(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] * x[i];
        return y;
    }
}
