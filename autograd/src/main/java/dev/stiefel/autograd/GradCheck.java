package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;

import java.util.Random;
import java.util.function.Function;

/**
 * Finite-difference check of backward rules. The function's output y is reduced to the scalar
 * L = Σ yᵢ·rᵢ with a fixed random r (so every output element's gradient matters), accumulated in f64; each
 * input element is moved by ±h and (L₊ − L₋)/2h is compared with the tape's gradient.
 *
 * <p>The forward ops compute in f32, so the difference quotient carries f32 rounding of about
 * 6e-8·|L|/h on top of the O(h²) truncation error: with h = 1e-2 and unit-scale inputs both stay near
 * 1e-4 relative, which is what {@link #DEFAULT_TOLERANCE} allows. A wrong rule is off by O(1).
 */
public final class GradCheck {
    public static final double DEFAULT_STEP = 1e-2;
    public static final double DEFAULT_TOLERANCE = 2e-3;

    private GradCheck() {}

    /** The worst |numeric − analytic| / (|analytic| + scale) over all inputs' elements; scale is the largest |analytic|. */
    public record Result(double worstError, int input, int element, double numeric, double analytic) {
        public boolean passed(double tolerance) { return worstError <= tolerance; }

        @Override public String toString() {
            return "worst relative error " + worstError + " at input " + input + " element " + element
                    + " (numeric " + numeric + ", analytic " + analytic + ")";
        }
    }

    public static Result check(Function<Var[], Var> f, Tensor... inputs) { return check(f, DEFAULT_STEP, inputs); }

    public static Result check(Function<Var[], Var> f, double h, Tensor... inputs) {
        Var[] params = new Var[inputs.length];
        for (int i = 0; i < inputs.length; i++) params[i] = Var.param(inputs[i]);
        Var y = f.apply(params);
        Tensor r = Tensor.randn(new Random(12345), y.shape());
        y.mul(Var.of(r)).sum().backward();

        double scale = 0;
        for (Var p : params) if (p.grad() != null) for (float g : p.grad().toFloatArray()) scale = Math.max(scale, Math.abs(g));
        scale = Math.max(scale, 1e-6);
        Result worst = new Result(0, -1, -1, 0, 0);
        for (int i = 0; i < inputs.length; i++) {
            float[] analytic = params[i].grad() == null ? new float[inputs[i].numel()] : params[i].grad().toFloatArray();
            Tensor base = inputs[i].copy();
            int[] shape = base.shape();
            float[] data = base.toFloatArray();
            for (int e = 0; e < data.length; e++) {
                double plus = lossWith(f, inputs, i, data, e, (float) (data[e] + h), shape, r);
                double minus = lossWith(f, inputs, i, data, e, (float) (data[e] - h), shape, r);
                double numeric = (plus - minus) / (2 * h);
                double err = Math.abs(numeric - analytic[e]) / (Math.abs(analytic[e]) + scale);
                if (err > worst.worstError || Double.isNaN(err)) worst = new Result(Double.isNaN(err) ? Double.POSITIVE_INFINITY : err, i, e, numeric, analytic[e]);
            }
        }
        return worst;
    }

    private static double lossWith(Function<Var[], Var> f, Tensor[] inputs, int which, float[] data, int element, float v,
                                   int[] shape, Tensor r) {
        float[] moved = data.clone();
        moved[element] = v;
        Var[] vars = new Var[inputs.length];
        for (int i = 0; i < inputs.length; i++) vars[i] = Var.of(i == which ? Tensor.wrap(moved, shape) : inputs[i]);
        try (var off = Grad.off()) {
            float[] y = f.apply(vars).value().toFloatArray(), rv = r.toFloatArray();
            double s = 0;
            for (int k = 0; k < y.length; k++) s += (double) y[k] * rv[k];
            return s;
        }
    }
}
