package dev.stiefel.quant;

import dev.stiefel.autograd.FakeQuant;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;

/**
 * The non-smooth steps of fake quantization as the training forward takes them: rounding, clamping to the integer
 * grid, picking a group's extreme elements, and values computed from the data that the tape treats as constants (an
 * activation's per-token scale, a weight group's rounded zero point).
 *
 * <p>{@link #STRAIGHT_THROUGH} is what calibration uses: round forward, identity backward (Bengio et al. 2013), clamp
 * with a zero gradient where clipped, max/min with the gradient on the extreme element, constants as they are. The
 * gradient the tape then computes is, at the current point, the exact gradient of the function in which every
 * rounding offset, every clamp decision, every choice of extreme element and every constant is frozen at its current
 * value. Gradient tests substitute an implementation that freezes them explicitly, which
 * makes that function smooth enough for finite differences.
 */
public interface Ste {

    /** round(u) forward (half to even, as {@code Math.rint}); the gradient passes unchanged. */
    Var round(Var u);

    /** clamp(v, lo, hi); the gradient flows where lo ≤ v ≤ hi. */
    Var clamp(Var v, float lo, float hi);

    /** A value computed from data that the tape does not differentiate (a scale, a zero point). */
    Tensor constant(Tensor t);

    /** The largest element along the last axis (kept as a dimension of 1); the gradient goes to that element. */
    default Var max(Var x) { return x.max(-1, true); }

    /** The smallest element along the last axis (kept as a dimension of 1); the gradient goes to that element. */
    default Var min(Var x) { return x.min(-1, true); }

    /** The straight-through estimator of the training forward. */
    Ste STRAIGHT_THROUGH = new Ste() {
        @Override public Var round(Var u) { return u.roundSte(); }

        @Override public Var clamp(Var v, float lo, float hi) { return v.clamp(lo, hi); }

        @Override public Tensor constant(Tensor t) { return t; }

        /** The same ops as the default, through autograd's {@link FakeQuant#quantize}, which a device runs as one kernel. */
        @Override public Var fakeQuant(Var x, Var s, Var z, int qmin, int qmax) { return FakeQuant.quantize(x, s, z, qmin, qmax); }

        @Override public String toString() { return "straight-through"; }
    };

    /**
     * Fake quantization with these steps, the same f32 operations in the same order as autograd's
     * {@code FakeQuant.quantize} and the quant core's {@code Quantizer}, so the values agree bit for bit:
     * <pre>
     *   q = clamp(round(x / s) + z, qmin, qmax),   y = (q − z) · s
     * </pre>
     * {@code s} and {@code z} broadcast against x.
     */
    default Var fakeQuant(Var x, Var s, Var z, int qmin, int qmax) {
        Var q = clamp(round(x.div(s)).add(z), qmin, qmax);
        return q.sub(z).mul(s);
    }
}
