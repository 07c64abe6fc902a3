package dev.stiefel.quant;

import dev.stiefel.autograd.FakeQuant;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantSpec.Clipping;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;

import java.util.List;

/**
 * The one dynamic fake quantizer of activations (a linear layer's input, Q, K, V), at run time and on the tape of
 * every learned method: QuantHooks' dynamic sites, OSTQuant's and SpinQuant's learning, OmniQuant's block
 * calibration and FlatQuant's learnable activation clipping are all this class. Three choices describe one:
 * <ul>
 *   <li><b>rows</b>: per token, per token and head, or groups along the last axis, as {@link Quantizer#rows} takes
 *       them from the spec;</li>
 *   <li><b>clipping</b>: none or a fixed ratio or search (the spec's own {@link Clipping}), or <em>learnable</em>
 *       (FlatQuant, Sun et al. 2025, §3, the reference code's LAC): the row's range [min(x, 0), max(x, 0)] shrunk by
 *       two factors shared by the whole site, σ(c_min) and σ(c_max), both starting at σ(4) ≈ 0.982 as the reference's
 *       {@code ActivationQuantizer(lac=True)};</li>
 *   <li><b>gradient</b>: {@link Gradient#CONSTANT_RANGE} (scales and zero points are constants of the tape, as
 *       inference treats them) or {@link Gradient#THROUGH_RANGE} (the loss also reaches x, and learnable clipping
 *       factors, through each row's scale; {@link Quantizer#fakeQuantThroughRange}).</li>
 * </ul>
 * The values never depend on the gradient choice: every scale and zero point is the quant core's rule
 * ({@link Quantizer#fit}, or for a learnable range {@link Quantizer#paramsFor} on the shrunk extremes), so what a
 * method learns on is, bit for bit, what its model computes when it runs.
 */
public final class ActivationQuantizer {
    /** The logit every learnable clipping factor starts from: σ(4) ≈ 0.982 keeps 98% of the range. */
    public static final float LAC_INIT = 4f;

    /** Whether the tape differentiates each row's scale (through its extremes and any learnable clipping). */
    public enum Gradient { CONSTANT_RANGE, THROUGH_RANGE }

    private final Quantizer quantizer;
    private final Gradient gradient;
    /** Learnable clipping: the logits of the factors on max(x, 0) and min(x, 0); both null for the spec's own clipping. */
    private final Var cMax, cMin;

    ActivationQuantizer(QuantSpec spec, Gradient gradient, Var cMax, Var cMin) {
        if (!spec.dynamic())
            throw new IllegalArgumentException("activation quantizer: scales are found per call (dynamic); a static range (" + spec
                    + ") is calibrated once, see QuantHooks.calibrate");
        if (cMax != null && spec.granularity() == Granularity.PER_TENSOR)
            throw new IllegalArgumentException("learnable activation clipping: per-row scales, not per tensor: " + spec);
        if (cMax != null && spec.clipping().kind() != Clipping.Kind.NONE)
            throw new IllegalArgumentException("learnable activation clipping replaces the spec's clipping (" + spec.clipping() + "): " + spec);
        this.quantizer = new Quantizer(spec);
        this.gradient = gradient;
        this.cMax = cMax;
        this.cMin = cMin;
    }

    /** The spec's own clipping. */
    public static ActivationQuantizer of(QuantSpec spec, Gradient gradient) { return new ActivationQuantizer(spec, gradient, null, null); }

    /** For a linear layer's input [..., features]: per token, never per head. */
    public static ActivationQuantizer linearInput(QuantSpec spec, Gradient gradient) {
        if (spec.granularity() == Granularity.PER_HEAD)
            throw new IllegalArgumentException("activation quantizer: per-head scales are for Q/K/V, not linear inputs (" + spec + ")");
        return of(spec, gradient);
    }

    /** Learnable clipping (LAC), both factors at {@link #LAC_INIT}; {@code learnable} false keeps them fixed there. */
    public static ActivationQuantizer learnableClipping(QuantSpec spec, boolean learnable) {
        Tensor init = Tensor.full(LAC_INIT, 1);
        return new ActivationQuantizer(spec, Gradient.THROUGH_RANGE, learnable ? Parameters.of(init) : Var.of(init), learnable ? Parameters.of(init.copy()) : Var.of(init.copy()));
    }

    /** Clipping learned earlier, frozen at the logits c_max, c_min (read from a model file). */
    public static ActivationQuantizer learnedClipping(QuantSpec spec, float cMax, float cMin) {
        return new ActivationQuantizer(spec, Gradient.THROUGH_RANGE, Var.of(Tensor.full(cMax, 1)), Var.of(Tensor.full(cMin, 1)));
    }

    public QuantSpec spec() { return quantizer.spec(); }

    /** Whether the range is shrunk by clipping factors of its own (learnable, or learned and frozen). */
    public boolean clipsLearned() { return cMax != null; }

    /** The same quantizer with its clipping factors frozen at their current values (for run time). */
    public ActivationQuantizer frozen() {
        return cMax == null ? this : new ActivationQuantizer(spec(), gradient, Var.of(cMax.value().copy()), Var.of(cMin.value().copy()));
    }

    /** The learnable clipping logits (c_max, c_min), or none. */
    public List<Var> parameters() { return cMax != null && cMax.requiresGrad() ? List.of(cMax, cMin) : List.of(); }

    /** c_max, c_min: the logits of the clipping factors. */
    public float[] logits() {
        if (cMax == null) throw new IllegalStateException("activation quantizer " + this + " has no clipping factors");
        return new float[]{cMax.value().item(), cMin.value().item()};
    }

    /** σ(c_max), σ(c_min): the fractions of the range kept. */
    public double[] ratios() {
        float[] c = logits();
        return new double[]{1 / (1 + Math.exp(-c[0])), 1 / (1 + Math.exp(-c[1]))};
    }

    /** x fake-quantized without a tape, as a model runs. */
    public Tensor quantize(Tensor x, String name) {
        try (var off = Grad.off()) {
            return quantize(Var.of(x), Ste.STRAIGHT_THROUGH, name).value();
        }
    }

    /**
     * x fake-quantized on the tape, its rounding and clamping as {@code ste} takes them; the value is
     * {@link #quantize(Tensor, String)}'s bit for bit.
     */
    public Var quantize(Var x, Ste ste, String name) {
        int[] shape = x.shape();
        Var rows = Quantizer.rows(x, spec());
        int[] rc = rows.shape();
        if (cMax != null) return learnedRange(rows, ste, name).reshape(shape);
        if (rows.value().isOnDevice()) {
            boolean throughRange = gradient == Gradient.THROUGH_RANGE && (x.requiresGrad() || ste != Ste.STRAIGHT_THROUGH);
            // a device computes the parameters where the rows are: on the tape nothing comes over (a value that is not
            // finite reaches the loss, which the training loop refuses); off it the extremes come down once to be checked
            Tensor[] c = x.requiresGrad() ? quantizer.fitOnDevice(rows.value()) : quantizer.fitOnDeviceChecked(rows.value(), name);
            if (c != null) { // the three forms of the heap-parameter path below, on these columns
                QuantSpec spec = spec();
                Var grouped = rows.reshape(c[0].size(0), -1), y;
                if (!throughRange) y = FakeQuant.quantize(grouped, Var.of(c[0]), Var.of(c[1]), spec.qmin(), spec.qmax());
                else if (spec.clipping().kind() == Clipping.Kind.NONE && spec.granularity() != Granularity.PER_TENSOR)
                    y = Quantizer.fakeQuantThroughRange(grouped, c[0], c[1], spec.symmetric(), spec.qmin(), spec.qmax(), ste);
                else y = ste.fakeQuant(grouped, Var.of(ste.constant(c[0])), Var.of(ste.constant(c[1])), spec.qmin(), spec.qmax());
                return y.reshape(shape);
            }
            // otherwise (no f64 on the device, a clip search, uneven groups) the parameters are fitted on the heap: from
            // the groups' extremes alone where they suffice, and off the tape the constant-range form gives apply's
            // values with tensor ops (as the heap's loop below does)
            QuantParams p = quantizer.fit(rows.value(), name);
            return (throughRange ? Quantizer.fakeQuantThroughRange(rows, p, spec().clipping(), ste) : Quantizer.fakeQuantSte(rows, p)).reshape(shape);
        }
        float[] v = rows.value().toFloatArray();
        QuantParams p = quantizer.fit(v, rc[0], rc[1], name);
        // Off the tape the core's loop gives the same values; a substituted ste (a gradient check's frozen one) must
        // see every step it saw on the tape, in the same order, so it always takes the tape's path.
        if (!x.requiresGrad() && ste == Ste.STRAIGHT_THROUGH) return Var.of(Tensor.wrap(Quantizer.apply(v, p), shape));
        Var y = gradient == Gradient.THROUGH_RANGE ? Quantizer.fakeQuantThroughRange(rows, p, spec().clipping(), ste) : Quantizer.fakeQuantSte(rows, p);
        return y.reshape(shape);
    }

    /**
     * LAC: per row (or group of the spec's size along it), the range x_max = σ(c_max)·max(x, 0), x_min =
     * σ(c_min)·min(x, 0) on the tape, its scale and zero point by the quant core's rule from those two f32 values
     * ({@link Quantizer#paramsFor}: s = (x_max − x_min)/qmax, z = round(−x_min/s); symmetric s = max(|x_min|, x_max)/qmax),
     * then Q(x) = (clamp(round(x/s) + z, qmin, qmax) − z)·s. The scale's gradient reaches c and, through the extremes,
     * x; the zero point is a constant, as in the reference.
     */
    private Var learnedRange(Var rows, Ste ste, String name) {
        QuantSpec spec = spec();
        int width = rows.shape()[1];
        int g = spec.groupSize() > 0 && width % spec.groupSize() == 0 ? spec.groupSize() : width;
        Var grouped = rows.reshape(-1, g);
        int n = grouped.shape()[0];
        Var zeros = Var.of(Tensor.zeros(1, 1).expand(n, 1)); // one 0 broadcast: a device reads it as a cached scalar
        Var hi = ste.max(grouped).maximum(zeros).mul(cMax.sigmoid()), lo = ste.min(grouped).minimum(zeros).mul(cMin.sigmoid());
        // on the tape a device computes them where the range is (a range that is not finite reaches the loss)
        Tensor[] exact = rows.requiresGrad() && hi.value().isOnDevice()
                ? Backends.current().fakeQuantParams(hi.value(), lo.value(), 1.0, spec.qmax(), spec.symmetric(), Quantizer.MIN_SCALE) : null;
        if (exact == null) {
            float[] his = hi.value().toFloatArray(), los = lo.value().toFloatArray(), s = new float[n], z = new float[n], sz = new float[2];
            for (int i = 0; i < n; i++) {
                if (!Float.isFinite(his[i]) || !Float.isFinite(los[i]))
                    throw new IllegalArgumentException("quantize " + name + ": row " + i + " has the range [" + los[i] + ", " + his[i] + "]; quantization needs finite values");
                quantizer.paramsFor(los[i], his[i], sz);
                s[i] = sz[0];
                z[i] = sz[1];
            }
            exact = new Tensor[]{Tensor.wrap(s, n, 1), Tensor.wrap(z, n, 1)};
        }
        Var scale = Quantizer.exactOnTape(Quantizer.rangeScale(hi, lo, spec.symmetric(), spec.qmax()), exact[0], ste);
        return ste.fakeQuant(grouped, scale, Var.of(ste.constant(exact[1])), spec.qmin(), spec.qmax()).reshape(rows.shape());
    }

    @Override public String toString() { return (cMax == null ? "" : "lac ") + spec(); }
}
