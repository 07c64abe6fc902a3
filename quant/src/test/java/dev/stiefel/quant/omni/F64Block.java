package dev.stiefel.quant.omni;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

/**
 * One LLaMA block in f64, written as loops in the manner of llama2.c's run.c and independent of the tensor kernels:
 * the reference the LET equivalence tests compare transformed and original weights in. Activations are [T][features],
 * weights [out][in]; positions start at 0.
 */
final class F64Block {
    final LlamaConfig c;
    double[] attnNorm, ffnNorm;
    double[][] wq, wk, wv, wo, wGate, wUp, wDown;

    F64Block(LlamaConfig c, LlamaWeights.Layer l) {
        this.c = c;
        attnNorm = vec(l.attnNorm());
        ffnNorm = vec(l.ffnNorm());
        wq = mat(l.wq());
        wk = mat(l.wk());
        wv = mat(l.wv());
        wo = mat(l.wo());
        wGate = mat(l.wGate());
        wUp = mat(l.wUp());
        wDown = mat(l.wDown());
    }

    static double[] vec(Tensor t) {
        float[] f = t.toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    static double[][] mat(Tensor t) {
        int rows = t.size(0), cols = t.size(1);
        float[] f = t.toFloatArray();
        double[][] d = new double[rows][cols];
        for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) d[r][j] = f[r * cols + j];
        return d;
    }

    /** x [1, T, dim] as [T][dim]. */
    static double[][] tokens(Tensor x) {
        int t = x.size(1), d = x.size(2);
        float[] f = x.toFloatArray();
        double[][] out = new double[t][d];
        for (int i = 0; i < t; i++) for (int j = 0; j < d; j++) out[i][j] = f[i * d + j];
        return out;
    }

    double[][] rmsNorm(double[][] x, double[] g) {
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            double ss = 0;
            for (double v : x[t]) ss += v * v;
            double inv = 1 / Math.sqrt(ss / x[t].length + c.normEps());
            y[t] = new double[x[t].length];
            for (int j = 0; j < x[t].length; j++) y[t][j] = x[t][j] * inv * g[j];
        }
        return y;
    }

    static double[][] linear(double[][] x, double[][] w) {
        double[][] y = new double[x.length][w.length];
        for (int t = 0; t < x.length; t++)
            for (int o = 0; o < w.length; o++) {
                double s = 0;
                for (int i = 0; i < w[o].length; i++) s += x[t][i] * w[o][i];
                y[t][o] = s;
            }
        return y;
    }

    /** RoPE on [T][heads·hd]: pair i of each head (features (2i, 2i+1) or (i, i + hd/2)) turned by t·θ^(−2i/hd). */
    double[][] rope(double[][] x) {
        int hd = c.headDim(), half = hd / 2;
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            y[t] = x[t].clone();
            for (int h = 0; h < x[t].length / hd; h++)
                for (int i = 0; i < half; i++) {
                    int a = c.ropeLayout() == Rope.Layout.INTERLEAVED ? 2 * i : i, b = c.ropeLayout() == Rope.Layout.INTERLEAVED ? 2 * i + 1 : i + half;
                    double angle = t * Math.pow(c.ropeTheta(), -2.0 * i / hd);
                    double xa = x[t][h * hd + a], xb = x[t][h * hd + b];
                    y[t][h * hd + a] = xa * Math.cos(angle) - xb * Math.sin(angle);
                    y[t][h * hd + b] = xa * Math.sin(angle) + xb * Math.cos(angle);
                }
        }
        return y;
    }

    /** Scaled causal scores [head][t][s] (s ≤ t; −∞ above) of queries and keys after RoPE. */
    double[][][] scores(double[][] q, double[][] k) {
        int hd = c.headDim(), heads = c.heads(), t = q.length;
        double[][][] s = new double[heads][t][t];
        for (int h = 0; h < heads; h++) {
            int g = h / c.groupSize();
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++) {
                    if (j > i) { s[h][i][j] = Double.NEGATIVE_INFINITY; continue; }
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += q[i][h * hd + d] * k[j][g * hd + d];
                    s[h][i][j] = dot / Math.sqrt(hd);
                }
        }
        return s;
    }

    /** softmax(scores)·v per head: the heads' outputs [T][heads·hd], o_proj's input. */
    double[][] heads(double[][][] scores, double[][] v) {
        int hd = c.headDim(), t = v.length;
        double[][] out = new double[t][c.qDim()];
        for (int h = 0; h < c.heads(); h++) {
            int g = h / c.groupSize();
            for (int i = 0; i < t; i++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j <= i; j++) max = Math.max(max, scores[h][i][j]);
                double[] p = new double[i + 1];
                for (int j = 0; j <= i; j++) sum += p[j] = Math.exp(scores[h][i][j] - max);
                for (int j = 0; j <= i; j++)
                    for (int d = 0; d < hd; d++) out[i][h * hd + d] += p[j] / sum * v[j][g * hd + d];
            }
        }
        return out;
    }

    /** The block: x + attention, then + SwiGLU MLP. */
    double[][] forward(double[][] x) {
        double[][] h = rmsNorm(x, attnNorm);
        double[][] q = rope(linear(h, wq)), k = rope(linear(h, wk)), v = linear(h, wv);
        double[][] a = linear(heads(scores(q, k), v), wo);
        double[][] r = add(x, a);
        double[][] m = rmsNorm(r, ffnNorm);
        double[][] gate = linear(m, wGate), up = linear(m, wUp);
        double[][] u = new double[gate.length][gate[0].length];
        for (int t = 0; t < u.length; t++)
            for (int j = 0; j < u[t].length; j++) u[t][j] = gate[t][j] / (1 + Math.exp(-gate[t][j])) * up[t][j];
        return add(r, linear(u, wDown));
    }

    static double[][] add(double[][] a, double[][] b) {
        double[][] y = new double[a.length][a[0].length];
        for (int t = 0; t < a.length; t++) for (int j = 0; j < a[t].length; j++) y[t][j] = a[t][j] + b[t][j];
        return y;
    }

    /** max |a − b| / max |b| over all elements (finite ones; −∞ masks must coincide). */
    static double relativeDiff(double[][] a, double[][] b) {
        double num = 0, den = 0;
        for (int t = 0; t < a.length; t++)
            for (int j = 0; j < a[t].length; j++) {
                if (Double.isInfinite(b[t][j]) && a[t][j] == b[t][j]) continue;
                num = Math.max(num, Math.abs(a[t][j] - b[t][j]));
                den = Math.max(den, Math.abs(b[t][j]));
            }
        return num / den;
    }

    static double relativeDiff(double[][][] a, double[][][] b) {
        double worst = 0;
        for (int h = 0; h < a.length; h++) worst = Math.max(worst, relativeDiff(a[h], b[h]));
        return worst;
    }
}
