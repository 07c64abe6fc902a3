package dev.stiefel.quant;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.tensor.Int8Storage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.Int8Rows;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Quantizes activations on the fly, at the hook points of the forward pass: the input of every linear layer of the
 * blocks ({@link Input#ATTN_IN}, {@link Input#ATTN_OUT}, {@link Input#MLP_IN}, {@link Input#MLP_OUT}), the head's
 * input when the config quantizes the head, K after RoPE and V. Because the key and value hooks run before the KV
 * cache stores them, the cache holds quantized values and generation sees exactly what a full forward sees.
 * Weights are not touched here: methods quantize them once into new weights.
 *
 * <p>Each quantization runs after an optional {@code inner} hooks object (a rotation or scaling that a method applies
 * at the same point), so transforms and quantizers compose: x → inner(x) → Q(inner(x)).
 *
 * <p>Dynamic specs find their scales on every call, per token (or per token and head for K/V). Static specs use a
 * per-tensor range calibrated once with {@link #calibrate}; using them before that is an error.
 */
public final class QuantHooks implements Hooks {
    private final QuantConfig config;
    private final Hooks inner;
    private final Quantizer act, key, value;
    /** The dynamic sites' quantizers (null where a spec is absent or static), with this hooks' gradient choice. */
    private final ActivationQuantizer dynamicAct, dynamicKey, dynamicValue;
    private final ActivationQuantizer.Gradient gradient;
    private final Map<String, QuantParams> staticParams;
    /**
     * Whether linear inputs, K and V come out as their integer levels ({@link Int8Storage}): for the packed runtime's
     * integer products and its packed KV cache.
     */
    private final boolean integerLevels;

    private QuantHooks(QuantConfig config, Hooks inner, Map<String, QuantParams> staticParams) {
        this(config, inner, staticParams, false, ActivationQuantizer.Gradient.CONSTANT_RANGE);
    }

    private QuantHooks(QuantConfig config, Hooks inner, Map<String, QuantParams> staticParams, boolean integerLevels, ActivationQuantizer.Gradient gradient) {
        this.config = config;
        this.inner = inner;
        this.integerLevels = integerLevels;
        this.gradient = gradient;
        this.act = config.activation() == null ? null : new Quantizer(check(config.activation(), "activations", false));
        this.key = config.key() == null ? null : new Quantizer(check(config.key(), "K cache", true));
        this.value = config.value() == null ? null : new Quantizer(check(config.value(), "V cache", true));
        this.dynamicAct = dynamic(act);
        this.dynamicKey = dynamic(key);
        this.dynamicValue = dynamic(value);
        this.staticParams = Map.copyOf(staticParams);
    }

    private ActivationQuantizer dynamic(Quantizer q) { return q == null || !q.spec().dynamic() ? null : ActivationQuantizer.of(q.spec(), gradient); }

    /** Hooks quantizing what {@code config} says, with nothing applied before. */
    public static QuantHooks of(QuantConfig config) { return new QuantHooks(config, Hooks.NONE, Map.of()); }

    /** Hooks quantizing after {@code inner} at every point. */
    public static QuantHooks over(Hooks inner, QuantConfig config) { return new QuantHooks(config, inner, Map.of()); }

    /**
     * The same for learning a transform in front of the quantizers (OSTQuant, SpinQuant): the dynamic sites'
     * gradient also runs through each row's scale ({@link ActivationQuantizer.Gradient#THROUGH_RANGE}), which is
     * what rewards a transform for shrinking a row's range; with constant scales the straight-through gradient is the
     * identity and the loss would see only the quantized point, not how the transform moves the grid. Same values.
     */
    public static QuantHooks learning(Hooks inner, QuantConfig config) {
        return new QuantHooks(config, inner, Map.of(), false, ActivationQuantizer.Gradient.THROUGH_RANGE);
    }

    /** The same with static ranges already calibrated ({@link #staticParams} of an earlier run, read from a model file). */
    public static QuantHooks calibrated(Hooks inner, QuantConfig config, Map<String, QuantParams> staticParams) {
        return new QuantHooks(config, inner, staticParams);
    }

    private QuantSpec check(QuantSpec s, String what, boolean kv) {
        if (!kv && s.granularity() == Granularity.PER_HEAD)
            throw new IllegalArgumentException("quant hooks: per-head scales are for the K/V cache, not " + what + " (" + s + ")");
        if (!s.dynamic() && s.granularity() != Granularity.PER_TENSOR)
            throw new IllegalArgumentException("quant hooks: static " + what + " need one per-tensor range (tokens differ from call to call), got " + s);
        return s;
    }

    public QuantConfig config() { return config; }

    /**
     * The same hooks, with every dynamic quantizer of at most 8 bits and one scale per row (a token's features, or a
     * token's head for K/V) returning the integer levels it found instead of their f32 values: the same numbers
     * ((q − z)·s bit for bit to any reader), held so that a product with a packed weight runs on integers (W8A8,
     * W4A8, W4A4) and the KV cache stores K and V at their bit width. For the packed runtime; outside a tape only (a
     * value that carries a gradient is quantized as before).
     */
    public QuantHooks withIntegerLevels() { return new QuantHooks(config, inner, staticParams, true, gradient); }

    /**
     * The sites a model of {@code layers} blocks quantized with {@code config} needs a calibrated range for, by the
     * names {@link #calibrate} gives them: every linear input of every block (and the head's when the head is
     * quantized) for static activations, every layer's K and V cache for static K/V.
     */
    public static java.util.List<String> staticSites(QuantConfig config, int layers) {
        java.util.List<String> out = new java.util.ArrayList<>();
        for (int l = 0; l < layers; l++) {
            if (config.activation() != null && !config.activation().dynamic())
                for (Input where : new Input[]{Input.ATTN_IN, Input.ATTN_OUT, Input.MLP_IN, Input.MLP_OUT}) out.add(Linears.name(l, where));
            if (config.key() != null && !config.key().dynamic()) out.add("model.layers." + l + ".k_cache");
            if (config.value() != null && !config.value().dynamic()) out.add("model.layers." + l + ".v_cache");
        }
        if (config.activation() != null && !config.activation().dynamic() && config.quantizeHead()) out.add(Linears.name(-1, Input.HEAD_IN));
        return out;
    }

    /** Site names of the static ranges in use (empty when every spec is dynamic). */
    public Map<String, QuantParams> staticParams() { return staticParams; }

    private boolean needsCalibration() {
        return (act != null && !act.spec().dynamic()) || (key != null && !key.spec().dynamic()) || (value != null && !value.spec().dynamic());
    }

    // ------------------------------------------------------------ the hook points

    @Override public Var weight(int layer, Linear which, Var w) { return inner.weight(layer, which, w); }

    @Override public Var bias(int layer, Linear which, Var b) { return inner.bias(layer, which, b); }

    @Override public Var input(int layer, Input where, Var x) {
        x = inner.input(layer, where, x);
        if (act == null || (where == Input.HEAD_IN && !config.quantizeHead())) return x;
        if (integerLevels && !x.requiresGrad() && integerRows(act.spec())) return Var.of(levels(act, x.value(), Linears.name(layer, where)));
        return quantize(act, dynamicAct, x, Linears.name(layer, where));
    }

    @Override public Var query(int layer, Var q) { return inner.query(layer, q); }

    @Override public Var key(int layer, Var k) {
        k = inner.key(layer, k);
        return key == null ? k : quantize(key, dynamicKey, k, "model.layers." + layer + ".k_cache");
    }

    @Override public Var value(int layer, Var v) {
        v = inner.value(layer, v);
        return value == null ? v : quantize(value, dynamicValue, v, "model.layers." + layer + ".v_cache");
    }

    /** Whether a spec's rows fit {@link Int8Rows}: dynamic, one scale per token, at most 8 bits. */
    private static boolean integerRows(QuantSpec s) {
        return s.dynamic() && s.granularity() == Granularity.PER_TOKEN && s.groupSize() == 0 && s.bits() <= 8;
    }

    /** x quantized as {@link Quantizer#fakeQuant(Tensor, String)} does, kept as levels, scales and zero points. */
    private static Tensor levels(Quantizer q, Tensor x, String name) {
        int[] shape = x.shape(), rc = Quantizer.rowsCols(shape, name);
        float[] v = x.toFloatArray();
        QuantParams p = q.fit(v, rc[0], rc[1], name);
        float[] lv = new float[v.length];
        int qmin = p.qmin(), qmax = p.qmax();
        for (int r = 0, i = 0; r < rc[0]; r++)
            for (int c = 0; c < rc[1]; c++, i++) lv[i] = Quantizer.level(v[i], p.scale()[r], p.zero()[r], qmin, qmax);
        return Int8Storage.tensor(Int8Rows.ofLevels(rc[0], rc[1], p.bits(), p.symmetric(), lv, p.scale(), p.zero())).reshape(shape);
    }

    /**
     * A site's value: a dynamic spec through its {@link ActivationQuantizer} (rows per token, or for K/V [B, T, heads,
     * headDim] per token and head when per head, tokens over all heads otherwise), a static one with its calibrated
     * per-tensor range.
     */
    private Var quantize(Quantizer q, ActivationQuantizer dynamic, Var x, String name) {
        if (dynamic != null) return dynamic.quantize(x, Ste.STRAIGHT_THROUGH, name);
        QuantParams p = staticParams.get(name);
        if (p == null)
            throw new IllegalStateException("quant hooks: static " + q.spec() + " at " + name + " has no calibrated range; run QuantHooks.calibrate first");
        if (!x.requiresGrad()) return Var.of(Quantizer.fakeQuant(x.value(), p, name));
        int[] rc = Quantizer.rowsCols(x.shape(), name);
        QuantParams spread = new QuantParams(p.bits(), p.symmetric(), rc[0], rc[1], 1, 1, p.scale(), p.zero(), new int[rc[1]]);
        return Quantizer.fakeQuantSte(x, spread).reshape(x.shape());
    }

    // ------------------------------------------------------------ static ranges

    /**
     * Calibrates every static spec: runs the samples (token ids [1, T]) through {@code fp} (its weights as they will be used,
     * activations in full precision, as SmoothQuant collects its activation ranges), records each site's min and max
     * over all tokens, and fixes one per-tensor scale per site from it. Dynamic specs are unaffected; with none
     * static this returns the hooks unchanged.
     */
    public QuantHooks calibrate(LlamaModel fp, List<Tensor> samples) {
        if (!needsCalibration()) return this;
        Map<String, double[]> ranges = new HashMap<>();
        LlamaModel observed = fp.withHooks(inner.then(Hooks.observing(new Hooks.Observer() {
            @Override public void input(int l, Input where, Var x) {
                if (act != null && !act.spec().dynamic() && (where != Input.HEAD_IN || config.quantizeHead()))
                    observe(ranges, Linears.name(l, where), x.value());
            }
            @Override public void key(int l, Var k) {
                if (key != null && !key.spec().dynamic()) observe(ranges, "model.layers." + l + ".k_cache", k.value());
            }
            @Override public void value(int l, Var v) {
                if (value != null && !value.spec().dynamic()) observe(ranges, "model.layers." + l + ".v_cache", v.value());
            }
        })));
        try (var _ = Grad.off()) {
            for (Tensor ids : samples) observed.forward(ids, null);
        }
        Map<String, QuantParams> params = new HashMap<>();
        for (var e : ranges.entrySet()) {
            String site = e.getKey();
            Quantizer q = site.endsWith("k_cache") ? key : site.endsWith("v_cache") ? value : act;
            params.put(site, q.fitRange(e.getValue()[0], e.getValue()[1], 1, 1, site));
        }
        return new QuantHooks(config, inner, params, integerLevels, gradient);
    }

    private static void observe(Map<String, double[]> ranges, String site, Tensor x) {
        double[] r = ranges.computeIfAbsent(site, k -> new double[]{Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY});
        float[] v = x.toFloatArray();
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) throw Quantizer.notFinite(site + " (calibration)", v[i], i, x.size(-1));
            r[0] = Math.min(r[0], v[i]);
            r[1] = Math.max(r[1], v[i]);
        }
    }

    @Override public String toString() { return "QuantHooks[" + config + "]"; }
}
