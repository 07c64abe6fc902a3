package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;

/**
 * Quantize–dequantize with the straight-through estimator, composed from tape primitives so that gradients
 * reach the input and every learnable quantity (scale, zero point, clipping factors) by the chain rule:
 * <pre>
 *   q = clamp(round_ste(x / s) + z, qmin, qmax)      (round_ste: round forward, identity backward)
 *   y = (q − z) · s
 * </pre>
 * Inside the range dy/dx = 1 and dy/ds = round(x/s) − x/s (LSQ, Esser et al. 2020); where clipped, dy/dx = 0
 * and dy/ds = qmin/qmax − z.
 */
public final class FakeQuant {
    private FakeQuant() {}

    /**
     * Fake-quantizes x with broadcastable scale s and zero point z on the integer grid [qmin, qmax]. Where the backend
     * fuses it (a device, for x [n, m] with s and z [n, 1]: {@link Backend#fakeQuant}) it is one op on the tape with the
     * same values and gradients as the composed ops below; otherwise it is those ops.
     */
    public static Var quantize(Var x, Var scale, Var zero, int qmin, int qmax) {
        if (qmin >= qmax) throw new IllegalArgumentException("fake quant: empty integer range [" + qmin + ", " + qmax + "]");
        Backend backend = Backends.current();
        Tensor fused = backend.fakeQuant(x.value(), scale.value(), zero.value(), qmin, qmax);
        if (fused != null) {
            Tensor xv = x.value(), s = scale.value(), z = zero.value();
            return Var.op("fake_quant", fused, g -> backend.fakeQuantBackward(xv, s, z, qmin, qmax, g), x, scale, zero);
        }
        Var q = x.div(scale).roundSte().add(zero).clamp(qmin, qmax);
        return q.sub(zero).mul(scale);
    }

    /**
     * Asymmetric fake quantization with learnable clipping along the last axis, as OmniQuant's LWC (eq. 2)
     * and FlatQuant's LAC: xmax = σ(γ)·max(x), xmin = σ(β)·min(x) per row, s = (xmax − xmin)/(2^bits − 1),
     * z = −round_ste(xmin / s). γ and β have one entry per row ([rows, 1]); σ(4) ≈ 0.982 is the usual start.
     */
    public static Var learnableClipping(Var x, Var gamma, Var beta, int bits) {
        if (bits < 2 || bits > 8) throw new IllegalArgumentException("fake quant: bits must be 2..8, got " + bits);
        int levels = (1 << bits) - 1;
        Tensor rowMax = x.value().max(-1, true), rowMin = x.value().min(-1, true);
        Var xmax = gamma.sigmoid().mul(Var.of(rowMax));
        Var xmin = beta.sigmoid().mul(Var.of(rowMin));
        // a constant row would give s = 0; keep the scale positive as the reference code does (clamp at 1e-5)
        Var scale = xmax.sub(xmin).mul(1f / levels).clamp(1e-5f, Float.MAX_VALUE);
        Var zero = xmin.div(scale).roundSte().neg();
        return quantize(x, scale, zero, 0, levels);
    }
}
