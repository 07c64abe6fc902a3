package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;

import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/** The gradient tests' one assertion, and the random inputs they feed it. */
final class Checks {
    private Checks() {}

    /** Runs {@link GradCheck} with {@code reference} over {@link NdArray}s shaped like the inputs. */
    static GradCheck.Result check(Function<Var[], Var> tape, Function<NdArray[], NdArray> reference, Tensor... inputs) {
        int[][] shapes = new int[inputs.length][];
        for (int i = 0; i < inputs.length; i++) shapes[i] = inputs[i].shape();
        // the reference must produce the tape's shape, not just as many elements
        NdArray[] base = new NdArray[inputs.length];
        Var[] constants = new Var[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            base[i] = NdArray.of(inputs[i]);
            constants[i] = Var.of(inputs[i]);
        }
        try (var off = Grad.off()) {
            assertThat(reference.apply(base).shape).as("reference output shape").isEqualTo(tape.apply(constants).shape());
        }
        return GradCheck.check(tape, xs -> {
            NdArray[] arrays = new NdArray[xs.length];
            for (int i = 0; i < xs.length; i++) arrays[i] = NdArray.of(xs[i], shapes[i]);
            return reference.apply(arrays).data;
        }, inputs);
    }

    static void assertGradients(Function<Var[], Var> tape, Function<NdArray[], NdArray> reference, Tensor... inputs) {
        GradCheck.Result r = check(tape, reference, inputs);
        assertThat(r.passed(GradCheck.REFERENCE_TOLERANCE)).as("%s", r).isTrue();
        assertThat(r.smallestGradient()).as("every input gets a gradient to compare; %s", r).isGreaterThan(1e-3);
    }

    static Tensor randn(Random rnd, int... shape) { return Tensor.randn(rnd, shape); }

    /** Values in [0.5, 2], for log, sqrt, rsqrt, reciprocal, pow and divisors. */
    static Tensor positive(Random rnd, int... shape) { return Tensor.uniform(rnd, 0.5f, 2f, shape); }

    /** Values with 0.2 <= |x| <= 2 and random signs: ±h never crosses the kink of abs at 0. */
    static Tensor awayFromZero(Random rnd, int... shape) {
        Tensor sign = Tensor.uniform(rnd, -1, 1, shape).ge(0f).mul(2f).sub(1f);
        return Tensor.uniform(rnd, 0.2f, 2f, shape).mul(sign);
    }

    /** A transposed (non-contiguous) view with the given shape: the checks see strided inputs. */
    static Tensor transposed(Random rnd, int... shape) {
        int n = shape.length;
        int[] s = shape.clone();
        s[n - 2] = shape[n - 1];
        s[n - 1] = shape[n - 2];
        return Tensor.randn(rnd, s).t();
    }

    /** Every other row of a larger tensor: a view with a step, whose rows are 2·stride apart. */
    static Tensor everyOtherRow(Tensor t) { return t.slice(0, 1, t.size(0), 2); }
}
