package dev.stiefel.llama;

import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

/**
 * An independent LLaMA forward pass in f64, written as plain loops in the manner of llama2.c's run.c: one token at a
 * time with a KV cache, no tensor kernels shared with the model under test. Weights are read once into double arrays.
 * Qwen2's q/k/v biases and Qwen3's per-head q/k RMSNorm (before RoPE) are applied where the weights have them.
 */
public final class ReferenceLlama {
    private final LlamaConfig c;
    private final double[] emb, finalNorm, out;
    private final double[][] attnNorm, wq, wk, wv, wo, ffnNorm, wg, wu, wd, bq, bk, bv, qNorm, kNorm;
    private final double[] invFreq;

    public ReferenceLlama(LlamaWeights w) {
        c = w.config();
        emb = d(w.embedding());
        finalNorm = d(w.finalNorm());
        out = d(w.output());
        int n = c.layers();
        attnNorm = new double[n][]; wq = new double[n][]; wk = new double[n][]; wv = new double[n][]; wo = new double[n][];
        ffnNorm = new double[n][]; wg = new double[n][]; wu = new double[n][]; wd = new double[n][];
        bq = new double[n][]; bk = new double[n][]; bv = new double[n][]; qNorm = new double[n][]; kNorm = new double[n][];
        for (int l = 0; l < n; l++) {
            LlamaWeights.Layer L = w.layer(l);
            attnNorm[l] = d(L.attnNorm()); wq[l] = d(L.wq()); wk[l] = d(L.wk()); wv[l] = d(L.wv()); wo[l] = d(L.wo());
            ffnNorm[l] = d(L.ffnNorm()); wg[l] = d(L.wGate()); wu[l] = d(L.wUp()); wd[l] = d(L.wDown());
            bq[l] = d(L.bq()); bk[l] = d(L.bk()); bv[l] = d(L.bv()); qNorm[l] = d(L.qNorm()); kNorm[l] = d(L.kNorm());
        }
        invFreq = c.ropeInvFreq();
    }

    /** The tensor's values in f64, or null for an absent tensor. */
    private static double[] d(Tensor t) {
        if (t == null) return null;
        float[] f = t.contiguous().toFloatArray();
        double[] r = new double[f.length];
        for (int i = 0; i < f.length; i++) r[i] = f[i];
        return r;
    }

    /** Logits [T][vocab] for one sequence. */
    public double[][] logits(int[] tokens) {
        int dim = c.dim(), hd = c.headDim(), kvDim = c.kvDim(), T = tokens.length, L = c.layers();
        double[][][] kCache = new double[L][T][], vCache = new double[L][T][];
        double[][] result = new double[T][];
        for (int pos = 0; pos < T; pos++) {
            double[] x = new double[dim];
            System.arraycopy(emb, tokens[pos] * dim, x, 0, dim);
            for (int l = 0; l < L; l++) {
                double[] h = rmsNorm(x, attnNorm[l]);
                double[] q = matvec(wq[l], h, c.qDim(), dim), k = matvec(wk[l], h, kvDim, dim), v = matvec(wv[l], h, kvDim, dim);
                addBias(q, bq[l]);
                addBias(k, bk[l]);
                addBias(v, bv[l]);
                headNorm(q, qNorm[l]);
                headNorm(k, kNorm[l]);
                rope(q, pos, c.heads());
                rope(k, pos, c.kvHeads());
                kCache[l][pos] = k;
                vCache[l][pos] = v;
                double[] att = new double[c.qDim()];
                for (int head = 0; head < c.heads(); head++) {
                    int kvh = head / c.groupSize();
                    double[] score = new double[pos + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t <= pos; t++) {
                        double s = 0;
                        for (int i = 0; i < hd; i++) s += q[head * hd + i] * kCache[l][t][kvh * hd + i];
                        score[t] = s / Math.sqrt(hd);
                        max = Math.max(max, score[t]);
                    }
                    double sum = 0;
                    for (int t = 0; t <= pos; t++) { score[t] = Math.exp(score[t] - max); sum += score[t]; }
                    for (int t = 0; t <= pos; t++)
                        for (int i = 0; i < hd; i++) att[head * hd + i] += score[t] / sum * vCache[l][t][kvh * hd + i];
                }
                double[] o = matvec(wo[l], att, dim, c.qDim());
                for (int i = 0; i < dim; i++) x[i] += o[i];
                double[] m = rmsNorm(x, ffnNorm[l]);
                double[] g = matvec(wg[l], m, c.hiddenDim(), dim), u = matvec(wu[l], m, c.hiddenDim(), dim);
                for (int i = 0; i < g.length; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                double[] down = matvec(wd[l], g, dim, c.hiddenDim());
                for (int i = 0; i < dim; i++) x[i] += down[i];
            }
            result[pos] = matvec(out, rmsNorm(x, finalNorm), c.vocabSize(), dim);
        }
        return result;
    }

    private double[] rmsNorm(double[] x, double[] w) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double r = 1 / Math.sqrt(ss / x.length + c.normEps());
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = w[i] * x[i] * r;
        return y;
    }

    private static void addBias(double[] y, double[] b) {
        if (b != null) for (int i = 0; i < y.length; i++) y[i] += b[i];
    }

    /** Qwen3: RMSNorm over each head's features with the gains g [headDim] (no-op when g is null). */
    private void headNorm(double[] v, double[] g) {
        if (g == null) return;
        int hd = c.headDim();
        for (int h = 0; h < v.length / hd; h++) {
            double[] head = java.util.Arrays.copyOfRange(v, h * hd, (h + 1) * hd);
            System.arraycopy(rmsNorm(head, g), 0, v, h * hd, hd);
        }
    }

    private static double[] matvec(double[] w, double[] x, int rows, int cols) {
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int j = 0; j < cols; j++) s += w[r * cols + j] * x[j];
            y[r] = s;
        }
        return y;
    }

    /** Rotates each head's pairs: (2i, 2i+1) for INTERLEAVED, (i, i + d/2) for HALF, by pos·invFreq[i]. */
    private void rope(double[] v, int pos, int heads) {
        int hd = c.headDim(), half = hd / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++) {
                int a = h * hd + (c.ropeLayout() == Rope.Layout.INTERLEAVED ? 2 * i : i);
                int b = h * hd + (c.ropeLayout() == Rope.Layout.INTERLEAVED ? 2 * i + 1 : i + half);
                double angle = pos * invFreq[i], cos = Math.cos(angle), sin = Math.sin(angle);
                double x0 = v[a], x1 = v[b];
                v[a] = x0 * cos - x1 * sin;
                v[b] = x0 * sin + x1 * cos;
            }
    }
}
