package dev.stiefel.quant.flat;

import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.Parameters;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.calib.ChannelMaxima;
import dev.stiefel.quant.learn.Lwc;
import dev.stiefel.quant.Ste;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.quant.transform.Site;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The forward of one block while FlatQuant calibrates it (the reference's {@code FlatQuantLlamaAttention/MLP} in
 * training mode): learnable transforms at the linear inputs applied to the activations and their inverses to the
 * weights on the tape, then LWC on the weights and LAC on the activations and the K/V cache. The block's
 * {@link TransformKind} picks the factors: AFFINE free or SVD-form invertible factors (FlatQuant), ROTATION orthogonal
 * ones, NONE none (per-channel scales, LWC and LAC only). {@link #freeze} gives the transforms to fold and the
 * quantizers to run with.
 *
 * <p>As in the reference, the q/k/v, gate/up and down Kronecker transforms and the o/V head transforms exist when
 * weights or activations are quantized, the V transform also when V is, and the Q/K transform when K is.
 */
public final class FlatBlock implements Hooks {
    private final LlamaConfig c;
    private final int layer;
    private final TransformKind kind;
    private final Var attnScale, mlpScale, downScale;
    private final Factor a1, a2, m1, m2, d1, d2, po, pv, pk;
    private final Map<Linear, WeightQuantizer> weights = new EnumMap<>(Linear.class);
    private final Map<Site, ActivationQuantizer> lac = new EnumMap<>(Site.class);

    /**
     * @param affineForm FREE or SVD: the form of AFFINE factors
     * @param scales     learn per-channel scales (SmoothQuant-style start with {@code alpha})
     * @param lwc        learnable weight clipping (else the spec's round-to-nearest grid)
     * @param learnLac   learnable activation clipping (else the full range)
     */
    public FlatBlock(LlamaConfig c, int layer, TransformKind kind, Factor.Form affineForm, boolean scales, double alpha,
                     LlamaWeights.Layer w, ChannelMaxima maxima, QuantConfig config, boolean lwc, boolean learnLac, long seed) {
        this.c = c;
        this.layer = layer;
        this.kind = kind;
        boolean linears = config.weight() != null || config.activation() != null;
        Factor.Form form = kind == TransformKind.ROTATION ? Factor.Form.ORTHOGONAL : affineForm;
        boolean matrices = kind != TransformKind.NONE;
        long s = seed * 1_000_003L + layer * 64L;
        int[] dim = Kronecker.factorSizes(c.dim()), hidden = Kronecker.factorSizes(c.hiddenDim());
        a1 = matrices && linears ? Factor.initial(form, dim[0], s + 1) : null;
        a2 = matrices && linears ? Factor.initial(form, dim[1], s + 2) : null;
        m1 = matrices && linears ? Factor.initial(form, dim[0], s + 3) : null;
        m2 = matrices && linears ? Factor.initial(form, dim[1], s + 4) : null;
        d1 = matrices && linears ? Factor.initial(form, hidden[0], s + 5) : null;
        d2 = matrices && linears ? Factor.initial(form, hidden[1], s + 6) : null;
        po = matrices && linears ? Factor.initial(form, c.heads(), s + 7) : null;
        pv = matrices && (linears || config.value() != null) ? Factor.initial(form, c.headDim(), s + 8) : null;
        pk = matrices && config.key() != null ? Factor.initial(form, c.headDim(), s + 9) : null;
        attnScale = scales && linears ? Parameters.of(smoothScale(maxima.get(Input.ATTN_IN), List.of(w.wq(), w.wk(), w.wv()), alpha)) : null;
        mlpScale = scales && linears ? Parameters.of(smoothScale(maxima.get(Input.MLP_IN), List.of(w.wGate(), w.wUp()), alpha)) : null;
        downScale = scales && linears ? Parameters.of(smoothScale(maxima.get(Input.MLP_OUT), List.of(w.wDown()), alpha)) : null;
        if (config.weight() != null) {
            Quantizer fixed = new Quantizer(config.weight());
            Tensor[] t = {w.wq(), w.wk(), w.wv(), w.wo(), w.wGate(), w.wUp(), w.wDown()};
            for (int i = 0; i < t.length; i++) {
                Linear which = Linears.BLOCK.get(i);
                weights.put(which, lwc ? new Lwc(config.weight(), t[i].size(0), t[i].size(1)) : WeightQuantizer.fixed(fixed, Linears.name(layer, which) + ".weight"));
            }
        }
        if (config.activation() != null)
            for (Site site : List.of(Site.ATTN_IN, Site.ATTN_OUT, Site.MLP_IN, Site.MLP_OUT)) lac.put(site, ActivationQuantizer.learnableClipping(config.activation(), learnLac));
        if (config.key() != null) lac.put(Site.KEY, ActivationQuantizer.learnableClipping(config.key(), learnLac));
        if (config.value() != null) lac.put(Site.VALUE, ActivationQuantizer.learnableClipping(config.value(), learnLac));
    }

    /**
     * FlatQuant's {@code get_init_scale}: s_j = max|W_{:,j}|^(1−α) / max|X_j|^α, at least 1e-5, with max|X_j| at
     * least 1e-5 (the reference's running maxima start there) and max|W_{:,j}| over every weight reading the input.
     * The activation is multiplied by s (and the weights divided), the reverse of SmoothQuant's convention.
     */
    static Tensor smoothScale(float[] xMax, List<Tensor> readers, double alpha) {
        int n = readers.get(0).size(1);
        float[] wMax = new float[n];
        for (Tensor w : readers) {
            float[] v = w.contiguous().toFloatArray();
            for (int i = 0; i < v.length; i++) wMax[i % n] = Math.max(wMax[i % n], Math.abs(v[i]));
        }
        float[] s = new float[n];
        for (int j = 0; j < n; j++) {
            double x = Math.max(xMax == null ? 1e-5 : xMax[j], 1e-5);
            s[j] = (float) Math.max(Math.pow(wMax[j], 1 - alpha) / Math.pow(x, alpha), 1e-5);
        }
        return Tensor.wrap(s, n);
    }

    public int layer() { return layer; }

    public TransformKind kind() { return kind; }

    private List<Factor> factors() {
        List<Factor> out = new ArrayList<>();
        for (Factor f : new Factor[]{a1, a2, m1, m2, d1, d2, po, pv, pk}) if (f != null) out.add(f);
        return out;
    }

    /** Euclidean transform parameters: free factors, singular values, per-channel scales (the reference's flat_lr group). */
    public List<Var> transformParameters() {
        List<Var> out = new ArrayList<>();
        for (Factor f : factors()) out.addAll(f.euclidean());
        for (Var s : new Var[]{attnScale, mlpScale, downScale}) if (s != null) out.add(s);
        return out;
    }

    /** Parameters on the Stiefel manifold (orthogonal factors, the U and V of SVD factors). */
    public List<Var> stiefelParameters() {
        List<Var> out = new ArrayList<>();
        for (Factor f : factors()) out.addAll(f.stiefel());
        return out;
    }

    /** LWC's and LAC's parameters (the reference trains them at 10× the transforms' rate). */
    public List<Var> clippingParameters() {
        List<Var> out = new ArrayList<>();
        for (WeightQuantizer q : weights.values()) out.addAll(q.parameters());
        for (ActivationQuantizer l : lac.values()) out.addAll(l.parameters());
        return out;
    }

    /** Removes every quantizer: the forward is then the transformed full-precision block (equivalence tests). */
    FlatBlock withoutQuantizers() {
        weights.clear();
        lac.clear();
        return this;
    }

    // ------------------------------------------------------------ the hook points

    private static Var m(Factor f) { return f == null ? null : f.matrix(); }

    private static Var it(Factor f) { return f == null ? null : f.inverseTranspose(); }

    @Override public Var weight(int l, Linear which, Var w) {
        if (l != layer) return w;
        Var t = switch (which) {
            case Q, K -> inputSide(w, attnScale, a1, a2);
            case V -> headsLeft(inputSide(w, attnScale, a1, a2));
            case O -> Kronecker.apply(w, it(po), it(pv));
            case GATE -> inputSide(w, mlpScale, m1, m2);
            case UP -> {
                Var u = inputSide(w, mlpScale, m1, m2);
                yield downScale == null ? u : u.mul(downScale.reshape(c.hiddenDim(), 1));
            }
            case DOWN -> inputSide(w, downScale, d1, d2);
            case HEAD -> w;
        };
        WeightQuantizer q = weights.get(which);
        return q == null ? t : q.quantize(t, Ste.STRAIGHT_THROUGH);
    }

    /** v_proj's bias (Qwen2) follows its rows: b_v[h] ← P_vᵀ·b_v[h]; q/k biases are untouched (P_k acts after RoPE). */
    @Override public Var bias(int l, Linear which, Var b) {
        if (l != layer || which != Linear.V || pv == null) return b;
        return b.reshape(c.kvHeads(), c.headDim()).matmul(pv.matrix()).reshape(c.kvDim());
    }

    /** W·diag(1/s)·(L⁻ᵀ ⊗ R⁻ᵀ). */
    private static Var inputSide(Var w, Var s, Factor l, Factor r) {
        Var t = s == null ? w : w.div(s.reshape(1, s.shape()[0]));
        return Kronecker.apply(t, it(l), it(r));
    }

    /** W_v[h] ← P_vᵀ·W_v[h] for every KV head. */
    private Var headsLeft(Var w) {
        if (pv == null) return w;
        int hd = c.headDim(), cols = w.shape()[1];
        return pv.matrix().t().matmul(w.reshape(c.kvHeads(), hd, cols)).reshape(c.kvHeads() * hd, cols);
    }

    @Override public Var input(int l, Input where, Var x) {
        if (l != layer) return x;
        Var t = switch (where) {
            case ATTN_IN -> Kronecker.apply(attnScale == null ? x : x.mul(attnScale), m(a1), m(a2));
            case MLP_IN -> Kronecker.apply(mlpScale == null ? x : x.mul(mlpScale), m(m1), m(m2));
            case MLP_OUT -> Kronecker.apply(x, m(d1), m(d2));
            case ATTN_OUT -> Kronecker.apply(x, m(po), null);
            case HEAD_IN -> x;
        };
        ActivationQuantizer q = lac.get(Site.of(where));
        return q == null ? t : q.quantize(t, Ste.STRAIGHT_THROUGH, Site.of(where).at(layer));
    }

    @Override public Var query(int l, Var q) { return l != layer || pk == null ? q : q.matmul(pk.inverseTranspose()); }

    @Override public Var key(int l, Var k) {
        if (l != layer) return k;
        Var t = pk == null ? k : k.matmul(pk.matrix());
        ActivationQuantizer q = lac.get(Site.KEY);
        return q == null ? t : q.quantize(t, Ste.STRAIGHT_THROUGH, Site.KEY.at(layer));
    }

    @Override public Var value(int l, Var v) {
        ActivationQuantizer q = lac.get(Site.VALUE);
        return l != layer || q == null ? v : q.quantize(v, Ste.STRAIGHT_THROUGH, Site.VALUE.at(layer));
    }

    // ------------------------------------------------------------ freezing

    /** The learned block: transforms to fold, weight quantizers for the final grid, frozen activation quantizers. */
    public record Frozen(FlatLayer transforms, Map<Linear, WeightQuantizer> weights, Map<Site, ActivationQuantizer> lac) {
        /** The block's weights with the transforms folded (f64) and then quantized to their grids. */
        public LlamaWeights.Layer fold(LlamaConfig c, LlamaWeights.Layer fp) {
            LlamaWeights.Layer f = transforms.fold(c, fp);
            try (var off = Grad.off()) {
                return f.withMatrices(f.attnNorm(), q(Linear.Q, f.wq()), q(Linear.K, f.wk()), q(Linear.V, f.wv()), q(Linear.O, f.wo()),
                        f.ffnNorm(), q(Linear.GATE, f.wGate()), q(Linear.UP, f.wUp()), q(Linear.DOWN, f.wDown()));
            }
        }

        private Tensor q(Linear which, Tensor w) {
            WeightQuantizer q = weights.get(which);
            return q == null ? w : q.fold(w);
        }
    }

    public Frozen freeze() {
        Map<Site, ActivationQuantizer> frozen = new EnumMap<>(Site.class);
        lac.forEach((site, q) -> frozen.put(site, q.frozen()));
        FlatLayer t = new FlatLayer(layer, c.headDim(), values(attnScale), values(mlpScale), values(downScale),
                v(a1), v(a2), v(m1), v(m2), v(d1), v(d2), v(po), v(pv), v(pk));
        return new Frozen(t, new EnumMap<>(weights), frozen);
    }

    private static Tensor v(Factor f) { return f == null ? null : f.value(); }

    private static double[] values(Var s) {
        if (s == null) return null;
        float[] f = s.value().toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    @Override public String toString() { return "FlatBlock[layer " + layer + ", " + kind + ", " + factors() + "]"; }
}
