package dev.stiefel.quant.omni;

import dev.stiefel.quant.Parameters;
import dev.stiefel.quant.calib.ChannelMaxima;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/**
 * Learnable equivalent transformation (OmniQuant, Shao et al. 2024, §3.3) of one LLaMA block: four vectors of
 * per-channel scales, each dividing an activation and multiplying the weights that read it, so that in full precision
 * the block computes exactly what it did (eq. 3: Y = XW = (X ⊘ s)(s ⊙ W)); only where quantizers sit between the
 * two does the choice of s matter. Channel-wise shifts (δ of eq. 3) are left out, as the reference leaves them out
 * for LLaMA, which has no biases to absorb them.
 *
 * <table>
 *   <caption>The four pairs</caption>
 *   <tr><th>scales</th><th>divides</th><th>multiplies</th></tr>
 *   <tr><td>{@code attn} [dim]</td><td>RMSNorm output before q/k/v (folded into its gain)</td><td>columns of Wq, Wk, Wv</td></tr>
 *   <tr><td>{@code mlp} [dim]</td><td>RMSNorm output before gate/up (folded into its gain)</td><td>columns of Wgate, Wup</td></tr>
 *   <tr><td>{@code out} [kvDim]</td><td>rows of Wv (the values, the V cache)</td><td>columns of Wo, each head's columns by its KV head's scales</td></tr>
 *   <tr><td>{@code qk} [kvHeads · headDim/2]</td><td>rows of Wq (queries)</td><td>rows of Wk (keys, the K cache)</td></tr>
 * </table>
 *
 * <p>Q→K is eq. 5 of the paper (P = softmax((Q ⊘ s)(s ⊙ Kᵀ)) keeps the attention scores); V→O is eq. 3's construction
 * between v_proj and o_proj (§3.3; the reference's {@code smooth_fc_fc}). Two constraints the reference's code does
 * not impose make them exact here: with grouped-query attention a V or K
 * feature is read by every query head of its group, so one scale serves the group; and RoPE rotates pairs of
 * features, R(q ⊘ s) = R(q) ⊘ s only when both features of a rotary pair share their scale, so {@code qk} has one
 * entry per pair ((2i, 2i+1) in the interleaved layout, (i, i + d/2) in the rotate-half one).
 *
 * <p>Qwen2's q/k/v biases take their layer's output scales ({@link #bias}: b_q ⊘ s_qk, b_k ⊙ s_qk, b_v ⊘ s_out); the
 * input-side scales leave them alone. Qwen3 normalizes q and k per head before RoPE, which would undo a scaling of
 * q_proj's and k_proj's rows, and the norm's gain is shared by all heads: there {@code qk} is not learned (it stays 1,
 * see {@link #skipped()}).
 *
 * <p>Initialisation as the reference's: {@code attn}, {@code mlp} and {@code out} SmoothQuant-style,
 * s_j = max|X_j|^α / max|W_j|^(1−α) (Xiao et al. 2023, eq. 4) from the calibration activations' channel maxima and
 * the weights that read them (over all of them, as SmoothQuant's smooth_ln_fcs takes it); {@code qk} at 1.
 */
public final class Let {
    /** The reference's truncate_number: scales smaller in magnitude than this are pushed out to it (keeps 1/s finite). */
    public static final float MIN_MAGNITUDE = 1e-2f;
    /** SmoothQuant's floor on the maxima and on the initial scales. */
    static final double INIT_FLOOR = 1e-5;

    private final LlamaConfig config;
    private final Var attn, mlp, out, qk;
    private final Tensor oToV, qToPair, kToPair;

    private Let(LlamaConfig c, float[] attn, float[] mlp, float[] out, float[] qk) {
        this(c, param("attn", attn, c.dim()), param("mlp", mlp, c.dim()), param("out", out, c.kvDim()),
                param("qk", qk, c.kvHeads() * c.headDim() / 2));
    }

    private static Var param(String name, float[] s, int n) {
        check(name, s, n);
        return Parameters.of(Tensor.of(s, n));
    }

    /** Over given parameters (gradient checks pass their own); their values are truncated in place. */
    Let(LlamaConfig c, Var attn, Var mlp, Var out, Var qk) {
        shape("attn", attn, c.dim());
        shape("mlp", mlp, c.dim());
        shape("out", out, c.kvDim());
        shape("qk", qk, c.kvHeads() * c.headDim() / 2);
        this.config = c;
        this.attn = attn;
        this.mlp = mlp;
        this.out = out;
        this.qk = qk;
        this.oToV = Tensor.ofInts(outputColumnToValue(c), c.qDim());
        this.qToPair = Tensor.ofInts(queryRowToPair(c), c.qDim());
        this.kToPair = Tensor.ofInts(keyRowToPair(c), c.kvDim());
        truncate();
    }

    private static void shape(String name, Var s, int n) {
        if (s.shape().length != 1 || s.shape()[0] != n)
            throw new IllegalArgumentException("let: " + name + " scales must be [" + n + "], got " + java.util.Arrays.toString(s.shape()));
    }

    private static void check(String name, float[] s, int n) {
        if (s.length != n) throw new IllegalArgumentException("let: " + name + " scales need " + n + " entries, got " + s.length);
        for (int i = 0; i < n; i++)
            if (!Float.isFinite(s[i]) || s[i] == 0)
                throw new IllegalArgumentException("let: " + name + " scale " + i + " is " + s[i] + "; scales must be finite and non-zero");
    }

    /** Given scales (tests, or a saved state). */
    public static Let of(LlamaConfig c, float[] attn, float[] mlp, float[] out, float[] qk) { return new Let(c, attn, mlp, out, qk); }

    /** Every scale 1: the identity transformation. */
    public static Let identity(LlamaConfig c) {
        return new Let(c, ones(c.dim()), ones(c.dim()), ones(c.kvDim()), ones(c.kvHeads() * c.headDim() / 2));
    }

    /**
     * SmoothQuant-style initial scales from the channel maxima of block {@code w}'s linear inputs and its weights;
     * {@code qk} starts at 1, as the reference's {@code qkt_smooth_scale}.
     */
    public static Let smoothQuant(LlamaConfig c, LlamaWeights.Layer w, ChannelMaxima maxima, double alpha) {
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("let: migration strength alpha must be in [0, 1], got " + alpha);
        float[] attnIn = require(maxima, Input.ATTN_IN), mlpIn = require(maxima, Input.MLP_IN), attnOut = require(maxima, Input.ATTN_OUT);
        float[] attn = smooth(attnIn, columnMax(c.dim(), w.wq(), w.wk(), w.wv()), alpha);
        float[] mlp = smooth(mlpIn, columnMax(c.dim(), w.wGate(), w.wUp()), alpha);
        // o_proj's inputs are the heads' outputs; a V feature feeds one column per query head of its group
        float[] oCols = columnMax(c.qDim(), w.wo());
        int[] toV = outputColumnToValue(c);
        double[] act = new double[c.kvDim()], wgt = new double[c.kvDim()];
        for (int j = 0; j < c.qDim(); j++) {
            act[toV[j]] = Math.max(act[toV[j]], attnOut[j]);
            wgt[toV[j]] = Math.max(wgt[toV[j]], oCols[j]);
        }
        float[] out = smooth(toFloat(act), toFloat(wgt), alpha);
        return new Let(c, attn, mlp, out, ones(c.kvHeads() * c.headDim() / 2));
    }

    private static float[] require(ChannelMaxima m, Input where) {
        float[] v = m.get(where);
        if (v == null) throw new IllegalStateException("let: no calibration activations were observed at " + where);
        return v;
    }

    /** s_j = max(a_j, 1e-5)^α / max(w_j, 1e-5)^(1−α), at least 1e-5 (the reference's clamps). */
    static float[] smooth(float[] act, float[] weight, double alpha) {
        float[] s = new float[act.length];
        for (int j = 0; j < s.length; j++) {
            double a = Math.max(act[j], INIT_FLOOR), w = Math.max(weight[j], INIT_FLOOR);
            s[j] = (float) Math.max(Math.pow(a, alpha) / Math.pow(w, 1 - alpha), INIT_FLOOR);
        }
        return s;
    }

    /** max over the rows of all given weights of |W_ij|, per column j. */
    static float[] columnMax(int cols, Tensor... ws) {
        float[] m = new float[cols];
        for (Tensor w : ws) {
            float[] v = w.toFloatArray();
            for (int i = 0; i < v.length; i++) m[i % cols] = Math.max(m[i % cols], Math.abs(v[i]));
        }
        return m;
    }

    // ------------------------------------------------------------ which scale each feature uses

    /** The rotary pair of feature d of a head: (2i, 2i+1) → i interleaved, (i, i + d/2) → i rotate-half. */
    public static int rotaryPair(int d, int headDim, Rope.Layout layout) {
        return layout == Rope.Layout.INTERLEAVED ? d / 2 : d % (headDim / 2);
    }

    /** For every row of Wq (query head h, feature d): its entry in {@code qk}, that of h's KV head and d's pair. */
    public static int[] queryRowToPair(LlamaConfig c) {
        int hd = c.headDim(), half = hd / 2;
        int[] map = new int[c.qDim()];
        for (int h = 0; h < c.heads(); h++)
            for (int d = 0; d < hd; d++) map[h * hd + d] = (h / c.groupSize()) * half + rotaryPair(d, hd, c.ropeLayout());
        return map;
    }

    /** For every row of Wk (KV head g, feature d): its entry in {@code qk}. */
    public static int[] keyRowToPair(LlamaConfig c) {
        int hd = c.headDim(), half = hd / 2;
        int[] map = new int[c.kvDim()];
        for (int g = 0; g < c.kvHeads(); g++)
            for (int d = 0; d < hd; d++) map[g * hd + d] = g * half + rotaryPair(d, hd, c.ropeLayout());
        return map;
    }

    /** For every column of Wo (query head h, feature d): the V feature it reads, (h's KV head, d). */
    public static int[] outputColumnToValue(LlamaConfig c) {
        int hd = c.headDim();
        int[] map = new int[c.qDim()];
        for (int h = 0; h < c.heads(); h++)
            for (int d = 0; d < hd; d++) map[h * hd + d] = (h / c.groupSize()) * hd + d;
        return map;
    }

    // ------------------------------------------------------------ the transformation

    /** The RMSNorm output entering q/k/v (ATTN_IN) or gate/up (MLP_IN), divided by its scales; other sites unchanged. */
    public Var normOutput(Input where, Var h) {
        return switch (where) {
            case ATTN_IN -> h.div(attn);
            case MLP_IN -> h.div(mlp);
            default -> h;
        };
    }

    /** A weight [out, in] with its scales applied (a column scale for the input it reads, a row scale for its output). */
    public Var weight(Linear which, Var w) {
        return switch (which) {
            case Q -> qkLearned() ? w.mul(row(attn)).div(column(qk.indexSelect(0, qToPair))) : w.mul(row(attn));
            case K -> qkLearned() ? w.mul(row(attn)).mul(column(qk.indexSelect(0, kToPair))) : w.mul(row(attn));
            case V -> w.mul(row(attn)).div(column(out));
            case O -> w.mul(row(out.indexSelect(0, oToV)));
            case GATE, UP -> w.mul(row(mlp));
            case DOWN, HEAD -> w;
        };
    }

    /** A q/k/v bias (Qwen2) [out] with its layer's output scales, as {@link #weight} applies them to the rows. */
    public Var bias(Linear which, Var b) {
        return switch (which) {
            case Q -> qkLearned() ? b.div(qk.indexSelect(0, qToPair)) : b;
            case K -> qkLearned() ? b.mul(qk.indexSelect(0, kToPair)) : b;
            case V -> b.div(out);
            default -> b;
        };
    }

    /** Whether the Q→K scales are learned: not through Qwen3's per-head q/k norm. */
    private boolean qkLearned() { return !config.architecture().qkNorm(); }

    /** LET's pairs this model cannot take, with the reason (empty when none). */
    public java.util.Map<String, String> skipped() {
        if (qkLearned()) return java.util.Map.of();
        return java.util.Map.of("let_qk", "Q→K scales skipped: the per-head q/k RMSNorm before RoPE (Qwen3's q_norm/k_norm) "
                + "undoes a scaling of q_proj/k_proj rows and its gain is shared by all heads, so no exact fold exists");
    }

    /** An RMSNorm gain with the division folded in: g ⊘ s (ATTN_IN: the attention norm, MLP_IN: the MLP norm). */
    public Tensor norm(Input where, Tensor gain) {
        return switch (where) {
            case ATTN_IN -> gain.div(attn.value());
            case MLP_IN -> gain.div(mlp.value());
            default -> throw new IllegalArgumentException("let: only the RMSNorms before attention and MLP carry scales, not " + where);
        };
    }

    private static Var row(Var s) { return s.reshape(1, s.shape()[0]); }

    private static Var column(Var s) { return s.reshape(s.shape()[0], 1); }

    // ------------------------------------------------------------ parameters

    /** attn, mlp, out, qk (qk only where it is learned). */
    public List<Var> parameters() { return qkLearned() ? List.of(attn, mlp, out, qk) : List.of(attn, mlp, out); }

    public float[] attn() { return attn.value().toFloatArray(); }

    public float[] mlp() { return mlp.value().toFloatArray(); }

    public float[] out() { return out.value().toFloatArray(); }

    public float[] qk() { return qk.value().toFloatArray(); }

    /**
     * The reference's truncate_number, applied to the parameters in place before every forward: a scale with
     * |s| &lt; 0.01 becomes ±0.01 (its sign kept; 0 becomes +0.01), so that dividing by it stays finite.
     */
    public void truncate() {
        for (Var p : parameters()) {
            Tensor v = p.value();
            if (v.isOnDevice()) { // where it is (a resident parameter): the same values, with tensor ops
                v.copyFrom(truncated(v));
                continue;
            }
            float[] d = ((FloatStorage) v.storage()).data();
            for (int i = 0; i < d.length; i++)
                if (Math.abs(d[i]) < MIN_MAGNITUDE) d[i] = d[i] < 0 ? -MIN_MAGNITUDE : MIN_MAGNITUDE;
        }
    }

    /**
     * {@link #truncate()}'s rule as tensor ops, exactly: s ≥ 0 (−0 included) becomes max(s, m), s < 0 min(s, −m), and the
     * two are picked by multiplying with 1 and 0 (adding a zero changes no value; a NaN stays NaN, as on the heap).
     */
    public static Tensor truncated(Tensor s) {
        Tensor nonNegative = s.ge(0f);
        return nonNegative.mul(s.maximum(MIN_MAGNITUDE)).add(nonNegative.neg().add(1f).mul(s.minimum(-MIN_MAGNITUDE)));
    }

    public LlamaConfig config() { return config; }

    private static float[] ones(int n) {
        float[] o = new float[n];
        java.util.Arrays.fill(o, 1f);
        return o;
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
