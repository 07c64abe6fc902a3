package dev.stiefel.quant.learn;

import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

/**
 * Dynamic fake quantization of activations on the tape, as {@code QuantHooks} applies it at inference: the scales
 * and zero points are those the quant core's {@link Quantizer} finds on the activation's own values (per token, per
 * token and head, or in groups), the activation passes by straight-through rounding, and the gradient also runs
 * through each row's scale as in the reference ({@link #spread}). The forward values equal {@code QuantHooks}' bit
 * for bit.
 */
public final class ActivationQuantizer {
    private final Quantizer quantizer;

    /** Rows as {@link Quantizer#rows} takes them: per token, or for Q/K/V per token over all heads unless per head. */
    private ActivationQuantizer(QuantSpec spec) {
        if (!spec.dynamic())
            throw new IllegalArgumentException("omniquant: activations are quantized dynamically (per token), as the reference does; "
                    + "a static range (" + spec + ") is not supported");
        this.quantizer = new Quantizer(spec);
    }

    /** For the input of a linear layer, [..., features]. */
    public static ActivationQuantizer linearInput(QuantSpec spec) {
        if (spec.granularity() == Granularity.PER_HEAD)
            throw new IllegalArgumentException("omniquant: per-head scales are for Q/K/V, not linear inputs (" + spec + ")");
        return new ActivationQuantizer(spec);
    }

    /** For Q, K or V [B, T, heads, headDim]: rows per token and head, or per token across heads for a per-token spec. */
    public static ActivationQuantizer heads(QuantSpec spec) {
        return new ActivationQuantizer(spec);
    }

    public QuantSpec spec() { return quantizer.spec(); }

    public Var quantize(Var x, Ste ste, String name) {
        int[] shape = x.shape();
        Var rows = Quantizer.rows(x, quantizer.spec());
        int[] rc = rows.shape();
        QuantParams p = quantizer.fit(rows.value().toFloatArray(), rc[0], rc[1], name);
        return spread(rows, p, ste, quantizer.spec().clipping()).reshape(shape);
    }

    /** The values quantized without a tape, as inference does (through the same code). */
    public Tensor quantize(Tensor x, String name) {
        return quantize(Var.of(x), Ste.STRAIGHT_THROUGH, name).value();
    }

    /**
     * x [rows, cols] fake-quantized with p's scales and zero points. When every row (or every group of a row, for
     * consecutive groups that divide it) has its own scale, the scale is also computed on the tape from the group's
     * extremes, s = (max(x, 0) − min(x, 0)) / qmax (symmetric: max(|min|, max) / qmax), as the reference's
     * quantizers take it from {@code amax}/{@code amin}: the loss then reaches x through the scale too, the term
     * (round(x/s) − x/s) of LSQ that carries the rounding error, without which a learnable transformation in front of
     * the quantizer would see the gradient of the full-precision function only. Its value is still exactly p's: the
     * tape's s plus the (frozen) difference to the quant core's, which is 0 or an ulp. The zero point stays a constant
     * (the reference rounds it without a gradient). Other layouts (per-tensor, ragged groups) and clipped ranges use
     * p's values as constants. The forward value is the quant core's bit for bit either way.
     */
    static Var spread(Var x, QuantParams p, Ste ste, QuantSpec.Clipping clipping) {
        int rows = p.rows(), cols = p.cols(), groups = p.groups();
        if (x.shape().length != 2 || x.shape()[0] != rows || x.shape()[1] != cols)
            throw new IllegalArgumentException("fake quant: parameters for " + rows + "×" + cols + ", tensor is " + Shape.str(x.shape()));
        boolean perRowGroups = clipping.kind() == QuantSpec.Clipping.Kind.NONE && p.paramRows() == rows && cols % groups == 0
                && java.util.Arrays.equals(p.groupOf(), QuantParams.consecutiveGroups(cols, cols / groups));
        if (perRowGroups) {
            int n = rows * groups;
            Var grouped = x.reshape(n, cols / groups);
            Tensor zeros = Tensor.zeros(n, 1);
            Var hi = ste.max(grouped).maximum(Var.of(zeros)), lo = ste.min(grouped).minimum(Var.of(zeros));
            Var onTape = (p.symmetric() ? hi.maximum(lo.neg()) : hi.sub(lo)).div((float) p.qmax());
            Tensor exact = Tensor.of(p.scale(), n, 1);
            Var s = onTape.add(Var.of(ste.constant(exact.sub(onTape.value()))));
            Var z = Var.of(ste.constant(Tensor.of(p.zero(), n, 1)));
            return ste.fakeQuant(grouped, s, z, p.qmin(), p.qmax()).reshape(rows, cols);
        }
        Tensor s, z;
        if (groups == 1) {
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
