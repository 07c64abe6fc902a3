package dev.stiefel.quant.flat;

import dev.stiefel.quant.Quantizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.learn.Ste;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/**
 * Learnable activation clipping (FlatQuant, Sun et al. 2025, §3; the reference code's LAC): dynamic per-row quantization whose range is the
 * row's own [min(x, 0), max(x, 0)] shrunk by two learnable factors shared by the whole site, σ(c_max) and σ(c_min),
 * both starting at σ(4) ≈ 0.982 as the reference's {@code ActivationQuantizer(lac=True)}:
 * <pre>
 *   x_max = σ(c_max)·max(x, 0),  x_min = σ(c_min)·min(x, 0)
 *   asymmetric: s = (x_max − x_min) / qmax,  z = round(−x_min / s)     symmetric: s = max(|x_min|, x_max) / qmax
 *   Q(x) = (clamp(round(x / s) + z, qmin, qmax) − z) · s
 * </pre>
 * The scale is on the tape (the gradient reaches c and, through the extremes, x); the zero point is a constant as in
 * the reference. A row is the last axis, or groups of {@code spec.groupSize()} along it; for a K/V spec that is not
 * per head, a row is a token's features across all heads. The same code, with the parameters frozen, quantizes at run
 * time, so the trained and the deployed values agree.
 */
public final class Lac {
    public static final float INIT = 4f;
    private static final float MIN_SCALE = 1e-8f;

    private final QuantSpec spec;
    private final Var cMax, cMin;

    private Lac(QuantSpec spec, Var cMax, Var cMin) {
        if (!spec.dynamic()) throw new IllegalArgumentException("lac: activations are quantized dynamically (per token); got " + spec);
        if (spec.granularity() == QuantSpec.Granularity.PER_TENSOR) throw new IllegalArgumentException("lac: per-row scales, not per tensor: " + spec);
        this.spec = spec;
        this.cMax = cMax;
        this.cMin = cMin;
    }

    /** For a linear layer's input [..., features]. */
    public static Lac linearInput(QuantSpec spec, boolean learnable) { return new Lac(spec, init(learnable), init(learnable)); }

    /** For K or V [B, T, heads, headDim]. */
    public static Lac heads(QuantSpec spec, boolean learnable) {
        return new Lac(spec, init(learnable), init(learnable));
    }

    private static Var init(boolean learnable) {
        Tensor t = Tensor.full(INIT, 1);
        return learnable ? Var.param(t) : Var.of(t);
    }

    /** A frozen quantizer with the logits c_max, c_min of its clipping factors (read from a model file). */
    public static Lac frozen(QuantSpec spec, float cMax, float cMin) { return new Lac(spec, Var.of(Tensor.full(cMax, 1)), Var.of(Tensor.full(cMin, 1))); }

    /** c_max, c_min: the logits of the clipping factors, as trained. */
    public float[] logits() { return new float[]{cMax.value().item(), cMin.value().item()}; }

    /** The same quantizer with its factors frozen at their current values (for run time). */
    public Lac frozen() { return new Lac(spec, Var.of(cMax.value().copy()), Var.of(cMin.value().copy())); }

    public List<Var> parameters() { return cMax.requiresGrad() ? List.of(cMax, cMin) : List.of(); }

    /** σ(c_max), σ(c_min): the fractions of the range kept. */
    public double[] ratios() {
        return new double[]{1 / (1 + Math.exp(-cMax.value().item())), 1 / (1 + Math.exp(-cMin.value().item()))};
    }

    public QuantSpec spec() { return spec; }

    public Var quantize(Var x, Ste ste) {
        int[] shape = x.shape();
        Var rows = Quantizer.rows(x, spec);
        int width = rows.shape()[1];
        int g = spec.groupSize() > 0 && width % spec.groupSize() == 0 ? spec.groupSize() : width;
        Var grouped = rows.reshape(-1, g);
        int n = grouped.shape()[0];
        Tensor zeros = Tensor.zeros(n, 1);
        Var hi = ste.max(grouped).maximum(Var.of(zeros)).mul(cMax.sigmoid());
        Var lo = ste.min(grouped).minimum(Var.of(zeros)).mul(cMin.sigmoid());
        Var s, z;
        if (spec.symmetric()) {
            s = ste.clamp(hi.maximum(lo.neg()).div((float) spec.qmax()), MIN_SCALE, Float.MAX_VALUE);
            z = Var.of(zeros);
        } else {
            s = ste.clamp(hi.sub(lo).div((float) spec.qmax()), MIN_SCALE, Float.MAX_VALUE);
            z = Var.of(ste.constant(lo.value().neg().div(s.value()).round()));
        }
        return ste.fakeQuant(grouped, s, z, spec.qmin(), spec.qmax()).reshape(shape);
    }

    @Override public String toString() { return "Lac[" + spec + "]"; }
}
