package dev.stiefel.quant.omni;

import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

/**
 * Dynamic fake quantization of activations on the tape, as {@code QuantHooks} applies it at inference: the scales
 * and zero points are found on the activation's own values by the quant core's {@link Quantizer} (per token, per
 * token and head, or in groups) and held constant, and the activation passes by straight-through rounding. The
 * forward values equal {@code QuantHooks}' bit for bit; the reference's quantizers let the gradient also run
 * through the per-token min/max, which this treats as constants (they move only the extreme elements of a token).
 */
public final class ActivationQuantizer {
    private final Quantizer quantizer;
    private final boolean acrossHeads;

    /**
     * @param acrossHeads for a K/V/Q spec: true when a row is a whole token over all heads (QuaRot's grouped K), false
     *                    when it is one head of one token (per-head) or for linear inputs
     */
    private ActivationQuantizer(QuantSpec spec, boolean acrossHeads) {
        if (!spec.dynamic())
            throw new IllegalArgumentException("omniquant: activations are quantized dynamically (per token), as the reference does; "
                    + "a static range (" + spec + ") is not supported");
        this.quantizer = new Quantizer(spec);
        this.acrossHeads = acrossHeads;
    }

    /** For the input of a linear layer, [..., features]. */
    public static ActivationQuantizer linearInput(QuantSpec spec) {
        if (spec.granularity() == Granularity.PER_HEAD)
            throw new IllegalArgumentException("omniquant: per-head scales are for Q/K/V, not linear inputs (" + spec + ")");
        return new ActivationQuantizer(spec, false);
    }

    /** For Q, K or V [B, T, heads, headDim]: rows per token and head, or per token across heads for a per-token spec. */
    public static ActivationQuantizer heads(QuantSpec spec) {
        return new ActivationQuantizer(spec, spec.granularity() != Granularity.PER_HEAD);
    }

    public QuantSpec spec() { return quantizer.spec(); }

    public Var quantize(Var x, Ste ste, String name) {
        int[] shape = x.shape();
        Var rows = acrossHeads && shape.length == 4 ? x.reshape(shape[0] * shape[1], shape[2] * shape[3])
                : x.reshape(-1, shape[shape.length - 1]);
        int[] rc = rows.shape();
        QuantParams p = quantizer.fit(rows.value().toFloatArray(), rc[0], rc[1], name);
        return spread(rows, p, ste).reshape(shape);
    }

    /** The values quantized without a tape, as inference does (through the same code). */
    public Tensor quantize(Tensor x, String name) {
        return quantize(Var.of(x), Ste.STRAIGHT_THROUGH, name).value();
    }

    /**
     * x [rows, cols] fake-quantized with p's scales and zeros (constants): broadcast from [1, 1] or [rows, 1] when a
     * row has one group, else spread to every element.
     */
    static Var spread(Var x, QuantParams p, Ste ste) {
        int rows = p.rows(), cols = p.cols();
        if (x.shape().length != 2 || x.shape()[0] != rows || x.shape()[1] != cols)
            throw new IllegalArgumentException("fake quant: parameters for " + rows + "×" + cols + ", tensor is " + Shape.str(x.shape()));
        Tensor s, z;
        if (p.groups() == 1) {
            int n = p.paramRows();
            s = Tensor.of(p.scale(), n, 1);
            z = Tensor.of(p.zero(), n, 1);
        } else {
            float[] sv = new float[rows * cols], zv = new float[rows * cols];
            for (int r = 0, i = 0; r < rows; r++)
                for (int c = 0; c < cols; c++, i++) {
                    int k = p.index(r, c);
                    sv[i] = p.scale()[k];
                    zv[i] = p.zero()[k];
                }
            s = Tensor.wrap(sv, rows, cols);
            z = Tensor.wrap(zv, rows, cols);
        }
        return ste.fakeQuant(x, Var.of(ste.constant(s)), Var.of(ste.constant(z)), p.qmin(), p.qmax());
    }
}
