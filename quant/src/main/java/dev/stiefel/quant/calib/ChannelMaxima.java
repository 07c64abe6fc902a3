package dev.stiefel.quant.calib;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;

import java.util.EnumMap;
import java.util.Map;

/**
 * Per-channel max|x| of the activations entering one block's linear layers (q/k/v, o, gate/up and down inputs), over every
 * calibration token that passes: SmoothQuant's {@code act_scales}, which the reference computes from the
 * full-precision model (generate_act_scale_shift.py) and OmniQuant uses to initialise its scales. As a {@link Hooks}
 * it observes and changes nothing.
 */
public final class ChannelMaxima implements Hooks {
    private final int layer;
    private final Map<Input, float[]> maxima = new EnumMap<>(Input.class);

    public ChannelMaxima(int layer) { this.layer = layer; }

    @Override public Var input(int l, Input where, Var x) {
        if (l == layer && (where == Input.ATTN_IN || where == Input.ATTN_OUT || where == Input.MLP_IN || where == Input.MLP_OUT)) observe(where, x.value().toFloatArray(), x.shape());
        return x;
    }

    private void observe(Input where, float[] v, int[] shape) {
        int n = shape[shape.length - 1];
        float[] m = maxima.computeIfAbsent(where, k -> new float[n]);
        for (int i = 0; i < v.length; i++) {
            float a = Math.abs(v[i]);
            int c = i % n;
            if (!(a <= Float.MAX_VALUE))
                throw new IllegalStateException("omniquant: layer " + layer + " " + where + " has " + v[i] + " at element " + i
                        + " of the calibration activations; the full-precision model must produce finite values");
            if (a > m[c]) m[c] = a;
        }
    }

    /** max|x| per feature at a site, or null when nothing passed there. */
    public float[] get(Input where) {
        float[] m = maxima.get(where);
        return m == null ? null : m.clone();
    }
}
