package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * An independent LLaMA forward pass in f64 over {@link DoubleWeights}, one token at a time with its own KV cache, in
 * plain loops (after llama's test ReferenceLlama, which follows llama2.c's run.c), with the online transforms applied
 * at their sites in f64. Nothing here calls the tensor kernels, so the exactness tests compare the fused f64 weights
 * against the original ones with only f64 rounding in between.
 */
final class Reference64 {
    private final LlamaConfig c;
    private final DoubleWeights w;
    private final Map<Site, List<Online>> online = new EnumMap<>(Site.class);
    private final double[] invFreq;

    Reference64(DoubleWeights w, List<Online> online) {
        this.c = w.config();
        this.w = w;
        for (Online o : online) this.online.computeIfAbsent(o.site(), s -> new ArrayList<>()).add(o);
        invFreq = c.ropeInvFreq();
    }

    Reference64(DoubleWeights w) { this(w, List.of()); }

    /** Applies the site's online transforms to every row of {@code rowSize} in x. */
    private void at(Site site, int layer, double[] x) {
        for (Online o : online.getOrDefault(site, List.of()))
            for (int off = 0; off < x.length; off += o.rowSize()) o.apply(layer, x, off);
    }

    /** Logits [T][vocab] of one sequence. */
    double[][] logits(int[] tokens) {
        int dim = c.dim(), hd = c.headDim(), kvDim = c.kvDim(), T = tokens.length, L = c.layers();
        double[][][] kCache = new double[L][T][], vCache = new double[L][T][];
        double[][] result = new double[T][];
        for (int pos = 0; pos < T; pos++) {
            double[] x = new double[dim];
            System.arraycopy(w.embedding().data, tokens[pos] * dim, x, 0, dim);
            for (int l = 0; l < L; l++) {
                double[] h = rmsNorm(x, w.norm(l, Input.ATTN_IN));
                at(Site.ATTN_IN, l, h);
                double[] q = matvec(w.linear(l, Linear.Q), h), k = matvec(w.linear(l, Linear.K), h), v = matvec(w.linear(l, Linear.V), h);
                addBias(q, w.bias(l, Linear.Q)); // Qwen2
                addBias(k, w.bias(l, Linear.K));
                addBias(v, w.bias(l, Linear.V));
                headNorm(q, w.qkNorm(l, Linear.Q)); // Qwen3: per-head RMSNorm before RoPE
                headNorm(k, w.qkNorm(l, Linear.K));
                rope(q, pos, c.heads());
                rope(k, pos, c.kvHeads());
                at(Site.QUERY, l, q);
                at(Site.KEY, l, k);
                at(Site.VALUE, l, v);
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
                at(Site.ATTN_OUT, l, att);
                double[] o = matvec(w.linear(l, Linear.O), att);
                for (int i = 0; i < dim; i++) x[i] += o[i];
                double[] m = rmsNorm(x, w.norm(l, Input.MLP_IN));
                at(Site.MLP_IN, l, m);
                double[] g = matvec(w.linear(l, Linear.GATE), m), u = matvec(w.linear(l, Linear.UP), m);
                for (int i = 0; i < g.length; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                at(Site.MLP_OUT, l, g);
                double[] down = matvec(w.linear(l, Linear.DOWN), g);
                for (int i = 0; i < dim; i++) x[i] += down[i];
            }
            double[] hn = rmsNorm(x, w.norm(-1, Input.HEAD_IN));
            at(Site.HEAD_IN, -1, hn);
            result[pos] = matvec(w.head(), hn);
        }
        return result;
    }

    private double[] rmsNorm(double[] x, double[] g) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double r = 1 / Math.sqrt(ss / x.length + c.normEps());
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = g[i] * x[i] * r;
        return y;
    }

    private static void addBias(double[] y, double[] b) {
        if (b != null) for (int i = 0; i < y.length; i++) y[i] += b[i];
    }

    private void headNorm(double[] v, double[] g) {
        if (g == null) return;
        int hd = c.headDim();
        for (int h = 0; h < v.length / hd; h++)
            System.arraycopy(rmsNorm(java.util.Arrays.copyOfRange(v, h * hd, (h + 1) * hd), g), 0, v, h * hd, hd);
    }

    private static double[] matvec(DMatrix w, double[] x) {
        double[] y = new double[w.rows];
        for (int r = 0; r < w.rows; r++) {
            double s = 0;
            for (int j = 0; j < w.cols; j++) s += w.data[r * w.cols + j] * x[j];
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

    /** max |a − b| over two logit tables. */
    static double maxAbsDiff(double[][] a, double[][] b) {
        double m = 0;
        for (int t = 0; t < a.length; t++)
            for (int i = 0; i < a[t].length; i++) m = Math.max(m, Math.abs(a[t][i] - b[t][i]));
        return m;
    }

    static double maxAbs(double[][] a) {
        double m = 0;
        for (double[] r : a) for (double v : r) m = Math.max(m, Math.abs(v));
        return m;
    }
}
