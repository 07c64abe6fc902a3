package dev.stiefel.quant.flat;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.transform.DoubleWeights;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.quant.transform.Site;
import dev.stiefel.quant.transform.Transform;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.List;

/**
 * One block's learned FlatQuant transforms, frozen: what is folded into the weights (in f64) and what stays online.
 * With P = P1 ⊗ P2 at a linear input and per-channel scales s (Sun et al. 2025, §3: the affine transform, its Kronecker
 * decomposition and the per-channel scaling; the layout of the reference code):
 * <pre>
 *   q/k/v input:  x ↦ (x ⊙ s_a)·(A1 ⊗ A2)   s_a into input_layernorm's gain;  W_{q,k,v} ← W·diag(1/s_a)·(A1⁻ᵀ ⊗ A2⁻ᵀ)
 *   gate/up input: the same with s_m, M1 ⊗ M2 and post_attention_layernorm
 *   down input:   x ↦ (x ⊙ s_d)·(D1 ⊗ D2)     s_d into up_proj's rows;       W_down ← W·diag(1/s_d)·(D1⁻ᵀ ⊗ D2⁻ᵀ)
 *   V/O per head: v ↦ v·P_v                   W_v[h] ← P_vᵀ·W_v[h], b_v[h] ← P_vᵀ·b_v[h] (Qwen2) for every KV head (folded)
 *   o input:      a ↦ a·(P_o ⊗ I) online;      W_o ← W_o·(P_o⁻ᵀ ⊗ P_v⁻ᵀ)
 *   Q/K:          q ↦ q·P_k⁻ᵀ, k ↦ k·P_k online after RoPE (scores unchanged; the K cache holds k·P_k)
 * </pre>
 * The Kronecker products at the q/k/v, gate/up, down and o inputs and P_k's pair run online; every inverse is taken in
 * f64 from the f32 value that runs online, so the folded model equals the original up to one f32 rounding of each
 * weight. Null fields are transforms this block does not have (a scale-only block has only scales).
 */
public record FlatLayer(int layer, int headDim, double[] attnScale, double[] mlpScale, double[] downScale,
                        Tensor a1, Tensor a2, Tensor m1, Tensor m2, Tensor d1, Tensor d2, Tensor po, Tensor pv, Tensor pk) implements Transform {

    @Override public String describe() {
        return "FlatQuant layer " + layer + (a1 != null || a2 != null ? " kronecker" : "") + (attnScale != null ? " scales" : "")
                + (pv != null ? " V/O" : "") + (pk != null ? " K" : "");
    }

    @Override public void fold(DoubleWeights w) {
        if (!w.hasLayer(layer)) return; // a window of the model without this block (Transforms.fuseBlockwise)
        LlamaConfig c = w.config();
        DMatrix[] lin = new DMatrix[Linear.values().length];
        for (Linear which : List.of(Linear.Q, Linear.K, Linear.V, Linear.O, Linear.GATE, Linear.UP, Linear.DOWN)) lin[which.ordinal()] = w.linear(layer, which).copy();
        foldInto(c, w.norm(layer, Input.ATTN_IN), w.norm(layer, Input.MLP_IN), lin, w.bias(layer, Linear.V));
        for (Linear which : List.of(Linear.Q, Linear.K, Linear.V, Linear.O, Linear.GATE, Linear.UP, Linear.DOWN)) w.setLinear(layer, which, lin[which.ordinal()]);
    }

    /** The block's weights with everything folded, computed in f64 and rounded to f32 once. */
    public LlamaWeights.Layer fold(LlamaConfig c, LlamaWeights.Layer fp) {
        double[] attnNorm = doubles(fp.attnNorm()), ffnNorm = doubles(fp.ffnNorm());
        DMatrix[] lin = new DMatrix[Linear.values().length];
        Tensor[] t = {fp.wq(), fp.wk(), fp.wv(), fp.wo(), fp.wGate(), fp.wUp(), fp.wDown()};
        Linear[] order = {Linear.Q, Linear.K, Linear.V, Linear.O, Linear.GATE, Linear.UP, Linear.DOWN};
        for (int i = 0; i < order.length; i++) lin[order[i].ordinal()] = t[i].contiguous().toDMatrix();
        double[] bv = fp.bv() == null ? null : doubles(fp.bv());
        foldInto(c, attnNorm, ffnNorm, lin, bv);
        return new LlamaWeights.Layer(floats(attnNorm), DoubleWeights.tensor(lin[Linear.Q.ordinal()]), DoubleWeights.tensor(lin[Linear.K.ordinal()]),
                DoubleWeights.tensor(lin[Linear.V.ordinal()]), DoubleWeights.tensor(lin[Linear.O.ordinal()]), floats(ffnNorm),
                DoubleWeights.tensor(lin[Linear.GATE.ordinal()]), DoubleWeights.tensor(lin[Linear.UP.ordinal()]), DoubleWeights.tensor(lin[Linear.DOWN.ordinal()]),
                fp.bq(), fp.bk(), bv == null ? null : floats(bv), fp.qNorm(), fp.kNorm()); // q/k: P_k acts after RoPE, nothing to fold
    }

    /** @param bv v_proj's bias (Qwen2), transformed in place with its rows, or null */
    private void foldInto(LlamaConfig c, double[] attnNorm, double[] ffnNorm, DMatrix[] lin, double[] bv) {
        DMatrix a1t = invT(a1), a2t = invT(a2), m1t = invT(m1), m2t = invT(m2), d1t = invT(d1), d2t = invT(d2), pot = invT(po), pvt = invT(pv);
        for (Linear which : List.of(Linear.Q, Linear.K, Linear.V)) inputSide(lin[which.ordinal()], attnScale, a1t, a2t);
        if (attnScale != null) for (int j = 0; j < attnNorm.length; j++) attnNorm[j] *= attnScale[j];
        if (pv != null) {
            DMatrix v = lin[Linear.V.ordinal()], p = pv.contiguous().toDMatrix();
            int hd = c.headDim();
            double[] block = new double[hd * v.cols];
            for (int h = 0; h < c.kvHeads(); h++) {
                // W_v[h] ← P_vᵀ·W_v[h]: the head's output features become v·P_v
                for (int i = 0; i < hd; i++)
                    for (int j = 0; j < v.cols; j++) {
                        double sum = 0;
                        for (int k = 0; k < hd; k++) sum += p.data[k * hd + i] * v.data[(h * hd + k) * v.cols + j];
                        block[i * v.cols + j] = sum;
                    }
                System.arraycopy(block, 0, v.data, h * hd * v.cols, block.length);
                if (bv != null) { // the bias is one more column of the same rows
                    double[] b = new double[hd];
                    for (int i = 0; i < hd; i++) for (int k = 0; k < hd; k++) b[i] += p.data[k * hd + i] * bv[h * hd + k];
                    System.arraycopy(b, 0, bv, h * hd, hd);
                }
            }
        }
        if (pot != null || pvt != null) rows(lin[Linear.O.ordinal()], pot, pvt);
        for (Linear which : List.of(Linear.GATE, Linear.UP)) inputSide(lin[which.ordinal()], mlpScale, m1t, m2t);
        if (mlpScale != null) for (int j = 0; j < ffnNorm.length; j++) ffnNorm[j] *= mlpScale[j];
        if (downScale != null) {
            DMatrix up = lin[Linear.UP.ordinal()];
            for (int i = 0; i < up.rows; i++) for (int j = 0; j < up.cols; j++) up.data[i * up.cols + j] *= downScale[i];
        }
        inputSide(lin[Linear.DOWN.ordinal()], downScale, d1t, d2t);
    }

    /** W ← W·diag(1/s)·(L ⊗ R), every row at once. */
    private static void inputSide(DMatrix w, double[] s, DMatrix l, DMatrix r) {
        if (s != null) for (int i = 0; i < w.rows; i++) for (int j = 0; j < w.cols; j++) w.data[i * w.cols + j] /= s[j];
        if (l != null || r != null) rows(w, l, r);
    }

    private static void rows(DMatrix w, DMatrix l, DMatrix r) {
        for (int i = 0; i < w.rows; i++) Kronecker.apply(l, r, w.data, i * w.cols, w.cols);
    }

    private static DMatrix invT(Tensor p) { return p == null ? null : KroneckerOnline.transposeInverse(p); }

    /** What runs online: the Kronecker products at the q/k/v, gate/up, down and o inputs, and the Q/K pair. */
    @Override public List<Online> online() {
        List<Online> out = new ArrayList<>();
        if (a1 != null || a2 != null) out.add(new KroneckerOnline(Site.ATTN_IN, layer, d(a1), d(a2), size(a1) * size(a2)));
        if (po != null) out.add(new KroneckerOnline(Site.ATTN_OUT, layer, d(po), null, po.size(0) * headDim));
        if (m1 != null || m2 != null) out.add(new KroneckerOnline(Site.MLP_IN, layer, d(m1), d(m2), size(m1) * size(m2)));
        if (d1 != null || d2 != null) out.add(new KroneckerOnline(Site.MLP_OUT, layer, d(d1), d(d2), size(d1) * size(d2)));
        if (pk != null) {
            // Q gets P_k⁻ᵀ exactly in f64 (rounded once for the f32 forward), so q·P_k⁻ᵀ·(k·P_k)ᵀ = q·kᵀ
            out.add(new KroneckerOnline(Site.QUERY, layer, null, KroneckerOnline.transposeInverse(pk), pk.size(0)));
            out.add(new KroneckerOnline(Site.KEY, layer, null, d(pk), pk.size(0)));
        }
        return out;
    }

    private static DMatrix d(Tensor t) { return t == null ? null : t.contiguous().toDMatrix(); }

    private static int size(Tensor t) { return t == null ? 1 : t.size(0); }

    private static double[] doubles(Tensor t) {
        float[] f = t.contiguous().toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    private static Tensor floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) d[i];
        return Tensor.wrap(f, d.length);
    }
}
