package dev.stiefel.quant.method;

import dev.stiefel.quant.Parameters;
import dev.stiefel.quant.Ste;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.transform.ChannelScaling;
import dev.stiefel.quant.transform.DoubleWeights;
import dev.stiefel.quant.transform.HeadRotation;
import dev.stiefel.quant.transform.NormFold;
import dev.stiefel.quant.transform.OnlineRotation;
import dev.stiefel.quant.transform.QkRotation;
import dev.stiefel.quant.transform.QkScaling;
import dev.stiefel.quant.transform.ResidualRotation;
import dev.stiefel.quant.transform.Rotation;
import dev.stiefel.quant.transform.Transform;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.ArrayList;
import java.util.List;

/**
 * OSTQuant's learnable equivalence transforms (Hu et al., ICLR 2025, §3.2, Fig. 3) as a view over a model whose RMSNorm
 * gains are folded: the transforms are {@link Var}s and act through {@link Hooks}, so the same forward pass learns them.
 * <ul>
 *   <li>R: a rotation of the residual stream (dim × dim, on the Stiefel manifold);</li>
 *   <li>R_h: a rotation of each head's value features per layer (headDim × headDim, V → O);</li>
 *   <li>diagonal scalings s = exp(θ): norm → q/k/v, norm → gate/up, up → down (through the SwiGLU product), V → O per
 *       KV-head feature, and Q → K after RoPE with the two features of each rotary pair sharing a scale;</li>
 *   <li>fixed online Hadamards at down_proj's input and (when K is quantized) on Q and K after RoPE, as QuaRot.</li>
 * </ul>
 * The residual stream itself stays in the original coordinates: each reader's input x becomes x·R·diag(s)⁻¹ and its
 * weight W·R·diag(s) (the quantizers see exactly what the fused model's linears see), and each writer's weight is used
 * as R·Q(Rᵀ·W·…), which maps its output back. Embedding and head are untouched (they stay in full precision). With
 * nothing quantized the view computes the original model; {@link #transforms()} gives the same transforms as f64
 * {@link Transform}s to fuse into the weights once learning ends.
 */
public final class OstQuantView {

    /**
     * What is learned.
     *
     * @param scalings      learn the diagonal scalings (OSTQuant); off for SpinQuant
     * @param headRotations learn the per-head V/O rotations (SpinQuant's R2)
     * @param qkHadamard    the online Hadamard on Q/K after RoPE (QuaRot; wanted when K is quantized)
     * @param pairShared    the Q/K scale is shared by the two features of each rotary pair (must be true to be exact;
     *                      false exists to show that it breaks equivalence)
     * @param downHadamard  the online Hadamard at down_proj's input (QuaRot); off for a model whose every transform must
     *                      fold into the weights (a GGUF for llama.cpp, which cannot run it)
     */
    public record Options(boolean scalings, boolean headRotations, boolean qkHadamard, boolean pairShared, boolean downHadamard) {
        public Options(boolean scalings, boolean headRotations, boolean qkHadamard, boolean pairShared) {
            this(scalings, headRotations, qkHadamard, pairShared, true);
        }

        public static Options ostquant(boolean qkHadamard) { return new Options(true, true, qkHadamard, true); }

        public static Options spinquant(boolean qkHadamard) { return new Options(false, true, qkHadamard, true); }
    }

    private final LlamaConfig c;
    private final LlamaWeights base;
    private final DoubleWeights baseExact;
    private final Options options;
    private final Var r;
    private final Var[] headR;
    private final Var[] attnIn, mlpIn, upDown, vo, qk; // log-scales θ, s = exp(θ)
    private final Rotation downHadamard, qkRotation;
    /** Whether the Q→K scaling is learned: only with scalings, and not through Qwen3's per-head q/k norm (see {@link #skipped()}). */
    private final boolean qkScaling;

    /**
     * @param fp    the full-precision model (not changed); its norms are folded here in f64
     * @param r     the initial residual rotation (dim × dim, orthogonal)
     * @param headR the initial per-layer head rotations (headDim × headDim), or null for none
     */
    public OstQuantView(LlamaWeights fp, Options options, DMatrix r, DMatrix[] headR) {
        this.c = fp.config();
        this.options = options;
        Transforms.Fused folded = Transforms.fuse(fp, List.of(NormFold.all()));
        this.baseExact = folded.exact();
        this.base = folded.weights().map(Backends.current()::resident); // a device backend keeps them there (CPU: as they are)
        if (r.rows != c.dim() || r.cols != c.dim()) throw new IllegalArgumentException("OSTQuant: residual rotation is " + r.shape() + ", model dim " + c.dim());
        this.r = Parameters.of(DoubleWeights.tensor(r));
        this.headR = new Var[options.headRotations() ? c.layers() : 0];
        for (int l = 0; l < headR().length; l++) {
            DMatrix h = headR == null ? DMatrix.identity(c.headDim()) : headR[l];
            if (h.rows != c.headDim() || h.cols != c.headDim())
                throw new IllegalArgumentException("OSTQuant: head rotation of layer " + l + " is " + h.shape() + ", head dim " + c.headDim());
            this.headR[l] = Parameters.of(DoubleWeights.tensor(h));
        }
        int n = options.scalings() ? c.layers() : 0;
        attnIn = zeros(n, c.dim());
        mlpIn = zeros(n, c.dim());
        upDown = zeros(n, c.hiddenDim());
        vo = zeros(n, c.kvDim());
        qkScaling = options.scalings() && !c.architecture().qkNorm();
        qk = zeros(qkScaling ? n : 0, options.pairShared() ? c.kvDim() / 2 : c.kvDim());
        downHadamard = options.downHadamard() ? Rotation.hadamard(c.hiddenDim()) : null;
        qkRotation = options.qkHadamard() ? Rotation.hadamard(c.headDim()) : null;
    }

    private static Var[] zeros(int n, int size) {
        Var[] v = new Var[n];
        for (int i = 0; i < n; i++) v[i] = Parameters.of(Tensor.zeros(size));
        return v;
    }

    private Var[] headR() { return headR; }

    public LlamaConfig config() { return c; }

    public Options options() { return options; }

    /** The norm-folded full-precision weights the view runs on. */
    public LlamaWeights base() { return base; }

    /** The rotations to learn on the Stiefel manifold: R, then R_h per layer. */
    public List<Var> rotations() {
        List<Var> out = new ArrayList<>(List.of(r));
        out.addAll(List.of(headR));
        return out;
    }

    /** The log-scales to learn with Adam (empty without scalings). */
    public List<Var> scales() {
        List<Var> out = new ArrayList<>();
        for (Var[] group : List.of(attnIn, mlpIn, upDown, vo, qk)) out.addAll(List.of(group));
        return out;
    }

    /** Replaces the log-scales' values (tests: random scalings). */
    public void setLogScales(java.util.Random rnd, double spread) {
        for (Var p : scales()) {
            float[] v = p.value().toFloatArray();
            for (int i = 0; i < v.length; i++) v[i] = (float) (spread * rnd.nextGaussian());
            p.value().copyFrom(Tensor.wrap(v, p.shape()));
        }
    }

    // ------------------------------------------------------------ hooks

    /** The transforms only (everything in full precision). */
    public Hooks hooks() { return hooks(null); }

    /** The transforms, with weights fake-quantized (straight-through) by {@code weightSpec} when it is not null. */
    public Hooks hooks(QuantSpec weightSpec) {
        Quantizer wq = weightSpec == null ? null : new Quantizer(weightSpec);
        return new Hooks() {
            @Override public Var weight(int l, Linear which, Var w) { return OstQuantView.this.weight(l, which, w, wq, null); }
            @Override public Var bias(int l, Linear which, Var b) { return OstQuantView.this.bias(l, which, b); }
            @Override public Var input(int l, Input where, Var x) { return OstQuantView.this.input(l, where, x); }
            @Override public Var query(int l, Var q) { return qkRotation == null ? q : qkRotation.multiply(q); }
            @Override public Var key(int l, Var k) { return qkRotation == null ? k : qkRotation.multiply(k); }
        };
    }

    /** The view with the config's activation and KV quantizers after the transforms, weights by its weight spec. */
    public LlamaModel model(QuantConfig config, boolean quantizeWeights) {
        Hooks h = hooks(quantizeWeights ? config.weight() : null);
        return new LlamaModel(base, config.activation() == null && config.key() == null && config.value() == null ? h : QuantHooks.over(h, config));
    }

    /**
     * The same for learning: quantizers whose scales follow x on the tape ({@link QuantHooks#learning}, and for the
     * weights {@link WeightQuantizer#fixed}), so the gradient sees how a transform changes each row's range. Same
     * forward values as {@link #model}, bit for bit.
     */
    public LlamaModel learningModel(QuantConfig config, boolean quantizeWeights) {
        QuantSpec w = quantizeWeights ? config.weight() : null;
        Hooks h = w != null ? learningHooks(w) : hooks(null);
        return new LlamaModel(base, config.activation() == null && config.key() == null && config.value() == null ? h : QuantHooks.learning(h, config));
    }

    private Hooks learningHooks(QuantSpec weightSpec) {
        Hooks plain = hooks();
        return new Hooks() {
            @Override public Var weight(int l, Linear which, Var w) { return OstQuantView.this.weight(l, which, w, null, weightSpec); }
            @Override public Var bias(int l, Linear which, Var b) { return plain.bias(l, which, b); }
            @Override public Var input(int l, Input where, Var x) { return plain.input(l, where, x); }
            @Override public Var query(int l, Var q) { return plain.query(l, q); }
            @Override public Var key(int l, Var k) { return plain.key(l, k); }
        };
    }

    private Var scale(Var[] logs, int l) { return logs[l].exp(); }

    /** diag(s) on the columns of W [out, in]. */
    private static Var cols(Var w, Var s) { return w.mul(s.reshape(1, s.shape()[0])); }

    /** diag(s) on the rows of W [out, in]. */
    private static Var rows(Var w, Var s) { return w.mul(s.reshape(s.shape()[0], 1)); }

    /** Each block of {@code hd} columns of W [out, n·hd] times M. */
    private Var blockColumns(Var w, Var m) {
        int[] s = w.shape();
        return w.reshape(-1, c.headDim()).matmul(m).reshape(s);
    }

    /** The Q/K scale per KV-head feature [kvDim] from its parameters: each rotary pair's features get the same value. */
    Var qkScale(int l) {
        Var s = qk[l].exp();
        if (!options.pairShared()) return s;
        int half = c.headDim() / 2;
        Var p = s.reshape(c.kvHeads(), half);
        Var full = c.ropeLayout() == Rope.Layout.INTERLEAVED
                ? Var.concat(2, p.unsqueeze(2), p.unsqueeze(2)).reshape(c.kvHeads(), c.headDim())
                : Var.concat(1, p, p);
        return full.reshape(c.kvDim());
    }

    /** A KV-head vector [kvDim] spread to the query heads [qDim] (query head h reads KV head h / group). */
    private Var toQueryHeads(Var s) {
        int g = c.groupSize();
        if (g == 1) return s;
        Var k = s.reshape(c.kvHeads(), 1, c.headDim());
        Var[] copies = new Var[g];
        java.util.Arrays.fill(copies, k);
        return Var.concat(1, copies).reshape(c.qDim());
    }

    private Var quantize(Quantizer wq, QuantSpec learning, Var w, int l, Hooks.Linear which) {
        if (learning != null) return WeightQuantizer.fixed(new Quantizer(learning), Linears.name(l, which)).quantize(w, Ste.STRAIGHT_THROUGH);
        return wq == null ? w : wq.fakeQuant(w, Linears.name(l, which));
    }

    Var weight(int l, Hooks.Linear which, Var w, Quantizer wq, QuantSpec learning) {
        boolean s = options.scalings();
        return switch (which) {
            case HEAD -> w;
            case Q, K, V, GATE, UP -> {
                Var t = w.matmul(r);
                if (which == Hooks.Linear.V && options.headRotations()) t = blockColumns(t.t(), headR[l]).t();
                if (s) {
                    switch (which) {
                        case Q -> { if (qkScaling) t = rows(t, toQueryHeads(qkScale(l))); }
                        case K -> { if (qkScaling) t = rows(t, qkScale(l).reciprocal()); }
                        case V -> t = rows(t, scale(vo, l).reciprocal());
                        case UP -> t = rows(t, scale(upDown, l).reciprocal());
                        default -> { }
                    }
                    t = cols(t, scale(which == Hooks.Linear.GATE || which == Hooks.Linear.UP ? mlpIn : attnIn, l));
                }
                yield quantize(wq, learning, t, l, which);
            }
            case O -> {
                Var t = r.t().matmul(w);
                if (options.headRotations()) t = blockColumns(t, headR[l]);
                if (s) t = cols(t, toQueryHeads(scale(vo, l)));
                yield r.matmul(quantize(wq, learning, t, l, which));
            }
            case DOWN -> {
                Var t = r.t().matmul(w);
                if (s) t = cols(t, scale(upDown, l));
                if (downHadamard != null) t = downHadamard.multiply(t);
                yield r.matmul(quantize(wq, learning, t, l, which));
            }
        };
    }

    /**
     * A q/k/v bias (Qwen2) under the transforms of its layer's outputs, as {@link #weight} does to the rows: R_h and
     * the V→O scale on b_v, the Q→K scale on b_q and b_k. Input-side transforms (R, the norm scalings) leave it alone.
     */
    Var bias(int l, Hooks.Linear which, Var b) {
        boolean s = options.scalings();
        return switch (which) {
            case V -> {
                Var t = b;
                if (options.headRotations()) t = t.reshape(c.kvHeads(), c.headDim()).matmul(headR[l]).reshape(c.kvDim());
                yield s ? t.mul(scale(vo, l).reciprocal()) : t;
            }
            case Q -> qkScaling ? b.mul(toQueryHeads(qkScale(l))) : b;
            case K -> qkScaling ? b.mul(qkScale(l).reciprocal()) : b;
            default -> b;
        };
    }

    /**
     * The transforms of the method that this model cannot take, each with the reason (empty when none): Qwen3 normalizes
     * q and k per head before RoPE, so a scaling of q_proj/k_proj rows is undone by the norm, and the norm's gain is
     * shared by all heads, so it cannot carry per-head scales either: the Q→K scaling is not learned there.
     */
    public java.util.Map<String, String> skipped() {
        if (!options.scalings() || qkScaling) return java.util.Map.of();
        return java.util.Map.of("qk_scaling", "Q→K scaling skipped: the per-head q/k RMSNorm before RoPE (Qwen3's q_norm/k_norm) "
                + "undoes a scaling of q_proj/k_proj rows and its gain is shared by all heads, so no exact fold exists");
    }

    Var input(int l, Hooks.Input where, Var x) {
        return switch (where) {
            case ATTN_IN, MLP_IN -> {
                int[] shape = x.shape();
                Var t = x.reshape(-1, c.dim()).matmul(r);
                if (options.scalings()) t = t.div(scale(where == Hooks.Input.ATTN_IN ? attnIn : mlpIn, l).reshape(1, c.dim()));
                yield t.reshape(shape);
            }
            case MLP_OUT -> downHadamard == null ? x : downHadamard.multiply(x);
            default -> x;
        };
    }

    // ------------------------------------------------------------ fusion

    /** The learned R (or R_h) projected onto the orthogonal matrices in f64 (polar factor), as a fixed rotation. */
    private static Rotation frozen(Var m, String what) {
        return Rotation.dense(Linalg.polar(m.value().toDMatrix()), what);
    }

    private static double[][] exp(Var[] logs) {
        double[][] out = new double[logs.length][];
        for (int l = 0; l < logs.length; l++) {
            float[] v = logs[l].value().toFloatArray();
            out[l] = new double[v.length];
            for (int i = 0; i < v.length; i++) out[l][i] = Math.exp(v[i]);
        }
        return out;
    }

    /**
     * The current transforms as f64 {@link Transform}s, in the order that reproduces the view on norm-folded weights:
     * R, the norm scalings, the Q/K scaling, R_h, the V/O and up/down scalings, the online Hadamards.
     */
    public List<Transform> transforms() {
        List<Transform> t = new ArrayList<>();
        t.add(new ResidualRotation(frozen(r, "learned rotation " + c.dim())));
        if (options.scalings()) {
            t.add(new ChannelScaling(ChannelScaling.Between.ATTN_IN, exp(attnIn)));
            t.add(new ChannelScaling(ChannelScaling.Between.MLP_IN, exp(mlpIn)));
            if (qkScaling) {
                double[][] q = new double[c.layers()][];
                for (int l = 0; l < c.layers(); l++) {
                    float[] v = qkScale(l).value().toFloatArray();
                    q[l] = new double[v.length];
                    for (int i = 0; i < v.length; i++) q[l][i] = v[i];
                }
                t.add(new QkScaling(q));
            }
        }
        if (options.headRotations()) {
            Rotation[] per = new Rotation[c.layers()];
            for (int l = 0; l < c.layers(); l++) per[l] = frozen(headR[l], "learned head rotation " + c.headDim() + " (layer " + l + ")");
            t.add(new HeadRotation(per));
        }
        if (options.scalings()) {
            t.add(new ChannelScaling(ChannelScaling.Between.V_O, exp(vo)));
            t.add(new ChannelScaling(ChannelScaling.Between.UP_DOWN, exp(upDown)));
        }
        if (downHadamard != null) t.add(new OnlineRotation(Hooks.Input.MLP_OUT, downHadamard));
        if (qkRotation != null) t.add(new QkRotation(qkRotation));
        return t;
    }

    /** NormFold followed by {@link #transforms()}: the pipeline from the original weights. */
    public List<Transform> pipeline() {
        List<Transform> t = new ArrayList<>(List.of(NormFold.all()));
        t.addAll(transforms());
        return t;
    }

    /** Fuses the current transforms into a copy of the norm-folded f64 weights. */
    public Transforms.Fused fuse() { return Transforms.fuse(baseExact.copy(), transforms()); }
}
