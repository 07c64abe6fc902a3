package dev.stiefel.autograd;

import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.util.Random;
import java.util.function.Function;

/**
 * Finite-difference checks of backward rules.
 *
 * <h2>Against an f64 reference: {@link #check(Function, Reference, Tensor...)}</h2>
 * The function under test is given twice: as tape ops ({@code Var[] -> Var}, computed in f32) and as an
 * independent double-precision {@link Reference} of the same mathematics, written without the tensor kernels.
 * The tape's output y is seeded with a fixed random r, so its gradients are those of L = Σ yᵢ·rᵢ and every
 * output element matters. Each input element of the reference is moved by ±h in f64 and the central difference
 * (L(x + h) − L(x − h)) / 2h is compared with the tape's gradient; the tape's forward value is compared with
 * the reference's too.
 *
 * <p>Why {@link #REFERENCE_TOLERANCE} = 1e-4 is tight and still safe: the numeric side is f64 with h = 1e-6 on
 * inputs of unit scale, so its truncation error h²·|L'''|/6 ≈ 1e-13 and its rounding error ≈ 1e-16·|L|/h ≈ 1e-10
 * are negligible. The analytic side is a handful of f32 ops per rule, each rounding by ε = 6e-8 of the magnitudes
 * involved; sums over the n ≤ 100 terms these tests use add at most about n·ε ≈ 6e-6 of the largest term, so
 * a right rule stays below about 1e-6 (autograd's own checks see at most 4e-7) and the tolerance leaves two
 * orders of magnitude of margin. A wrong rule (a missing term, a wrong factor, a broadcast gradient not summed
 * back) is off by O(1), and even a rule off by a factor 1 + 1e-3 fails (GradCheckTest). Errors are measured against the largest gradient of the same
 * input, |numeric − analytic| / (|numeric| + max|numeric|), because where the true gradient is near zero the f32
 * side still carries rounding at the scale of its neighbours. Inputs must keep ±h away from kinks (clamp, max,
 * abs) and jumps (rounding); straight-through rounding is checked against a reference that adds the rounding
 * offset of the unperturbed point as a constant, which is the function whose gradient the estimator computes.
 *
 * <h2>Without a reference: {@link #check(Function, Tensor...)}</h2>
 * For compositions of rules already checked above (a whole model with hooks) where no f64 reference exists:
 * the tape function itself is re-run in f32 at x ± h, and the probe loss is accumulated in f64. Its f32
 * rounding of about 6e-8·|L|/h, with h = 1e-2, and the O(h²) truncation stay near 1e-4 relative, which is
 * what {@link #DEFAULT_TOLERANCE} allows. It is a coarse check of the wiring, not of a rule.
 */
public final class GradCheck {
    /** Step of the central differences on the f64 reference. */
    public static final double REFERENCE_STEP = 1e-6;
    /** Worst relative error a rule checked against an f64 reference may show (see the class comment). */
    public static final double REFERENCE_TOLERANCE = 1e-4;
    /** Step of the f32 self-check {@link #check(Function, Tensor...)}. */
    public static final double DEFAULT_STEP = 1e-2;
    /** Tolerance of the f32 self-check {@link #check(Function, Tensor...)}. */
    public static final double DEFAULT_TOLERANCE = 2e-3;

    private static final long PROBE_SEED = 12345;

    private GradCheck() {}

    /**
     * An f64 forward of the function under test. {@code inputs[i]} holds input i's elements in row-major order of
     * its shape (whatever the strides of the tensor given to the check); the result is the output's elements in
     * row-major order of the tape output's shape. Each call gets fresh copies of the inputs. It must not call the
     * tensor kernels: it is the independent side of the comparison.
     */
    @FunctionalInterface
    public interface Reference { double[] apply(double[][] inputs); }

    /**
     * The worst gradient error (|numeric − analytic| / (|numeric| + scale), scale the largest |numeric| of that
     * input) with where it occurred, and the worst forward error (|tape − reference| / (|reference| + max|reference|))
     * with the output element, 0 and −1 when there was no reference. {@code smallestGradient} is the smallest over
     * the inputs of the largest |gradient| element: near 0 it says some input had no gradient to compare at all,
     * and a pass said nothing about it.
     */
    public record Result(double worstError, int input, int element, double numeric, double analytic,
                         double forwardError, int outputElement, double smallestGradient) {
        public boolean passed(double tolerance) { return worstError <= tolerance && forwardError <= tolerance; }

        @Override public String toString() {
            String s = "worst relative gradient error " + worstError + " at input " + input + " element " + element
                    + " (numeric " + numeric + ", analytic " + analytic + ")";
            return outputElement < 0 ? s : s + "; worst relative forward error " + forwardError + " at output element " + outputElement;
        }
    }

    // ------------------------------------------------------------ against an f64 reference

    public static Result check(Function<Var[], Var> tape, Reference reference, Tensor... inputs) {
        return check(tape, reference, REFERENCE_STEP, inputs);
    }

    public static Result check(Function<Var[], Var> tape, Reference reference, double h, Tensor... inputs) {
        Var[] params = new Var[inputs.length];
        double[][] base = new double[inputs.length][];
        for (int i = 0; i < inputs.length; i++) {
            params[i] = Var.param(inputs[i]);
            base[i] = valuesOf(inputs[i]);
        }
        Var y = tape.apply(params);
        float[] yTape = y.value().toFloatArray();
        double[] yRef = evaluate(reference, base, yTape.length, y.shape());

        // forward: the f32 tape against the f64 reference, relative to the output's largest magnitude
        double outScale = Math.max(maxAbs(yRef), Double.MIN_NORMAL);
        double forwardError = 0;
        int outputElement = 0;
        for (int k = 0; k < yRef.length; k++) {
            double err = relative(yTape[k], yRef[k], outScale);
            if (err > forwardError) { forwardError = err; outputElement = k; }
        }

        Tensor seed = Tensor.randn(new Random(PROBE_SEED), y.shape());
        float[] r = seed.toFloatArray();
        y.backward(seed);

        double[][] numeric = new double[inputs.length][];
        double globalScale = 0, smallest = Double.POSITIVE_INFINITY;
        for (int i = 0; i < inputs.length; i++) {
            numeric[i] = new double[base[i].length];
            for (int e = 0; e < base[i].length; e++) {
                double plus = probe(reference, base, i, e, base[i][e] + h, r, y.shape());
                double minus = probe(reference, base, i, e, base[i][e] - h, r, y.shape());
                numeric[i][e] = (plus - minus) / (2 * h);
            }
            globalScale = Math.max(globalScale, maxAbs(numeric[i]));
            smallest = Math.min(smallest, maxAbs(numeric[i]));
        }
        Result worst = new Result(0, -1, -1, 0, 0, forwardError, outputElement, smallest);
        for (int i = 0; i < inputs.length; i++) {
            float[] analytic = params[i].grad() == null ? new float[base[i].length] : params[i].grad().toFloatArray();
            // an input with no gradient at all is measured against the other inputs' scale
            double scale = maxAbs(numeric[i]);
            if (scale == 0) scale = globalScale > 0 ? globalScale : 1;
            for (int e = 0; e < analytic.length; e++) {
                double err = relative(analytic[e], numeric[i][e], scale);
                if (err > worst.worstError)
                    worst = new Result(err, i, e, numeric[i][e], analytic[e], forwardError, outputElement, smallest);
            }
        }
        return worst;
    }

    /** L = Σ yᵢ·rᵢ of the reference with element {@code e} of input {@code which} set to {@code v}. */
    private static double probe(Reference reference, double[][] base, int which, int e, double v, float[] r, int[] shape) {
        double[][] xs = base.clone();
        xs[which] = base[which].clone();
        xs[which][e] = v;
        double[] y = evaluate(reference, xs, r.length, shape);
        double s = 0;
        for (int k = 0; k < y.length; k++) s += y[k] * r[k];
        return s;
    }

    private static double[] evaluate(Reference reference, double[][] xs, int expected, int[] shape) {
        double[][] copies = new double[xs.length][];
        for (int i = 0; i < xs.length; i++) copies[i] = xs[i].clone();
        double[] y = reference.apply(copies);
        if (y == null || y.length != expected)
            throw new IllegalArgumentException("gradcheck: the reference returned " + (y == null ? "null" : y.length + " values")
                    + " for a tape output of shape " + Shape.str(shape) + " (" + expected + " elements)");
        return y;
    }

    /** |a − b| / (|b| + scale), NaN or infinity counting as the worst possible. */
    private static double relative(double a, double b, double scale) {
        double err = Math.abs(a - b) / (Math.abs(b) + scale);
        return Double.isNaN(err) ? Double.POSITIVE_INFINITY : err;
    }

    private static double maxAbs(double[] xs) {
        double m = 0;
        for (double x : xs) m = Math.max(m, Math.abs(x));
        return m;
    }

    /** The elements of any view, read one by one in row-major order (no kernel involved). */
    private static double[] valuesOf(Tensor t) {
        int[] shape = t.shape();
        double[] out = new double[t.numel()];
        int[] idx = new int[shape.length];
        for (int e = 0; e < out.length; e++) {
            out[e] = t.get(idx);
            for (int d = shape.length - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
        }
        return out;
    }

    // ------------------------------------------------------------ f32 self-check without a reference

    /** Checks a composition of already-checked rules by re-running the tape function in f32 at x ± h. */
    public static Result check(Function<Var[], Var> f, Tensor... inputs) { return check(f, DEFAULT_STEP, inputs); }

    public static Result check(Function<Var[], Var> f, double h, Tensor... inputs) {
        Var[] params = new Var[inputs.length];
        for (int i = 0; i < inputs.length; i++) params[i] = Var.param(inputs[i]);
        Var y = f.apply(params);
        Tensor r = Tensor.randn(new Random(PROBE_SEED), y.shape());
        y.mul(Var.of(r)).sum().backward();

        double scale = 0, smallest = Double.POSITIVE_INFINITY;
        for (Var p : params) {
            double m = 0;
            if (p.grad() != null) for (float g : p.grad().toFloatArray()) m = Math.max(m, Math.abs(g));
            scale = Math.max(scale, m);
            smallest = Math.min(smallest, m);
        }
        scale = Math.max(scale, 1e-6);
        Result worst = new Result(0, -1, -1, 0, 0, 0, -1, smallest);
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
                if (err > worst.worstError || Double.isNaN(err))
                    worst = new Result(Double.isNaN(err) ? Double.POSITIVE_INFINITY : err, i, e, numeric, analytic[e], 0, -1, smallest);
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
