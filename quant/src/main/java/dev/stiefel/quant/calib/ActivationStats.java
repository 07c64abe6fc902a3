package dev.stiefel.quant.calib;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.Quantizer;

import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Per-channel statistics of the activations entering linear layers over calibration data: max |x_j| (SmoothQuant's
 * act_scales, from its {@code generate_act_scales.py}) and mean |x_j| (AWQ's {@code get_act_scale}), for each layer
 * and site, from one full-precision pass over every sample (what the model's hooks hand the linear layers).
 */
public final class ActivationStats {
    private final Map<String, double[]> absMax = new HashMap<>(), absSum = new HashMap<>();
    private final Map<String, Long> tokens = new HashMap<>();

    private ActivationStats() {}

    /** Runs {@code model} (its hooks included) on every sample and records the inputs at {@code sites} of every layer. */
    public static ActivationStats collect(LlamaModel model, CalibrationData data, Set<Input> sites) {
        ActivationStats s = new ActivationStats();
        Set<Input> wanted = EnumSet.copyOf(sites);
        Hooks inner = model.hooks();
        Hooks observer = new Hooks() {
            @Override public Var weight(int l, Linear which, Var w) { return inner.weight(l, which, w); }
            @Override public Var bias(int l, Linear which, Var b) { return inner.bias(l, which, b); }
            @Override public Var input(int l, Input where, Var x) {
                Var y = inner.input(l, where, x);
                if (wanted.contains(where)) s.observe(Linears.name(l, where), y.value().contiguous().toFloatArray(), y.shape()[y.shape().length - 1]);
                return y;
            }
            @Override public Var query(int l, Var q) { return inner.query(l, q); }
            @Override public Var key(int l, Var k) { return inner.key(l, k); }
            @Override public Var value(int l, Var v) { return inner.value(l, v); }
        };
        LlamaModel observed = model.withHooks(observer);
        try (var _ = Grad.off()) {
            for (int i = 0; i < data.size(); i++) observed.forward(data.ids(i), null);
        }
        return s;
    }

    private void observe(String site, float[] x, int cols) {
        double[] max = absMax.computeIfAbsent(site, k -> new double[cols]), sum = absSum.computeIfAbsent(site, k -> new double[cols]);
        for (int i = 0; i < x.length; i++) {
            float v = x[i];
            if (!Float.isFinite(v)) throw Quantizer.notFinite(site + " (calibration statistics)", v, i, cols);
            double a = Math.abs(v);
            int j = i % cols;
            if (a > max[j]) max[j] = a;
            sum[j] += a;
        }
        tokens.merge(site, (long) (x.length / cols), Long::sum);
    }

    private double[] get(Map<String, double[]> m, int layer, Input site) {
        double[] v = m.get(Linears.name(layer, site));
        if (v == null) throw new IllegalArgumentException("activation statistics: nothing recorded at " + Linears.name(layer, site));
        return v.clone();
    }

    /** max over tokens of |x_j|, per channel j. */
    public double[] absMax(int layer, Input site) { return get(absMax, layer, site); }

    /** mean over tokens of |x_j|, per channel j. */
    public double[] absMean(int layer, Input site) {
        double[] s = get(absSum, layer, site);
        long n = tokens.get(Linears.name(layer, site));
        for (int j = 0; j < s.length; j++) s[j] /= n;
        return s;
    }

    /**
     * How much one channel dominates: max_j m_j / mean_j m_j over the channel maxima m_j = max |x_j|. A per-token
     * quantizer's scale follows the largest channel, so the other channels keep roughly 1/ratio of its levels.
     */
    public static double outlierRatio(double[] channelMax) {
        double max = 0, sum = 0;
        for (double v : channelMax) { max = Math.max(max, v); sum += v; }
        return sum == 0 ? 1 : max / (sum / channelMax.length);
    }
}
