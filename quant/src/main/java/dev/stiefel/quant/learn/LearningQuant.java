package dev.stiefel.quant.learn;

import dev.stiefel.quant.Quantizer;
import dev.stiefel.autograd.FakeQuant;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.tensor.Tensor;

/**
 * Dynamic fake quantization for learning transforms, with the scale and zero point computed from x <em>on the tape</em>:
 * s = (max(x, 0) − min(x, 0)) / qmax per row (or max|x| / qmax symmetric), z = round_ste(−min/s). The rounding is
 * straight-through as in {@link dev.stiefel.quant.Quantizer}, but here the gradient also reaches x through the row's
 * max and min (as PyTorch autograd does through SpinQuant's and OSTQuant's quantizers). That path is what rewards a
 * transform for shrinking a row's range: with constant scales the straight-through gradient is the identity and the
 * loss would only see the quantized point, not how the transform changes the quantization grid. The forward value is
 * the quantizer's (same range rule, with 0 always inside it).
 */
public final class LearningQuant {
    private LearningQuant() {}

    /** Whether {@link #fakeQuant} handles the spec: dynamic rows (token, channel, head), no clip search. */
    public static boolean supports(QuantSpec s) {
        return s == null || (s.dynamic() && s.granularity() != Granularity.PER_TENSOR && s.clipping().kind() == QuantSpec.Clipping.Kind.NONE);
    }

    /** Fake-quantizes x [..., cols] with one scale per row (per group of the spec's group size along the last axis). */
    public static Var fakeQuant(Var x, QuantSpec spec) {
        int[] shape = x.shape();
        int cols = shape[shape.length - 1], group = spec.groupSize() > 0 ? spec.groupSize() : cols;
        if (cols % group != 0) throw new IllegalArgumentException("learning quantizer: " + cols + " columns in groups of " + group);
        Var r = x.reshape(-1, group);
        Var hi = r.max(-1, true).clamp(0, Float.MAX_VALUE), lo = r.min(-1, true).clamp(-Float.MAX_VALUE, 0);
        int qmin = spec.qmin(), qmax = spec.qmax();
        Var scale, zero;
        if (spec.symmetric()) {
            scale = hi.maximum(lo.neg()).mul(1f / qmax).clamp(Float.MIN_NORMAL, Float.MAX_VALUE);
            zero = Var.of(Tensor.zeros(scale.shape()));
        } else {
            scale = hi.sub(lo).mul(1f / qmax).clamp(Float.MIN_NORMAL, Float.MAX_VALUE);
            zero = lo.div(scale).neg().roundSte().clamp(0, qmax);
        }
        return FakeQuant.quantize(r, scale, zero, qmin, qmax).reshape(shape);
    }

    /**
     * Hooks quantizing activations, K and V after {@code inner} as {@link QuantHooks} does, with {@link #fakeQuant};
     * for specs it does not handle (static ranges, clip search) it returns QuantHooks itself.
     */
    public static Hooks over(Hooks inner, QuantConfig config) {
        if (!supports(config.activation()) || !supports(config.key()) || !supports(config.value())) return QuantHooks.over(inner, config);
        return inner.then(new Hooks() {
            @Override public Var input(int l, Input where, Var x) {
                if (config.activation() == null || (where == Input.HEAD_IN && !config.quantizeHead())) return x;
                return fakeQuant(x, config.activation());
            }

            @Override public Var key(int l, Var k) { return kv(k, config.key()); }

            @Override public Var value(int l, Var v) { return kv(v, config.value()); }
        });
    }

    /** K/V [B, T, heads, headDim]: per head, rows are (token, head); else one row per token over all heads. */
    private static Var kv(Var x, QuantSpec spec) {
        if (spec == null) return x;
        return fakeQuant(Quantizer.rows(x, spec), spec).reshape(x.shape());
    }
}
