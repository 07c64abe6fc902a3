package dev.stiefel.llama.testing;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The one f64 reference of the LLaMA forward pass for every module's tests (shared through llama's test-jar): plain
 * loops in the manner of llama2.c's run.c, independent of the tensor kernels, over a whole sequence at once with a
 * causal mask. Activations are [T][features], weights [out][in], positions start at 0.
 *
 * <p>The weights are public arrays so that a test can transform them in f64 (LET's scalings, fused rotations) and
 * compare; a {@link Hook} sees, and may change in place, each token's activation at the points where quantization
 * methods act (the same points as {@code dev.stiefel.llama.Hooks}, named as quant's online-transform sites).
 */
public final class F64Llama {
    public final LlamaConfig config;
    public double[][] embedding, head;
    public double[] finalNorm;
    public final List<Block> blocks;

    /** Where a {@link Hook} acts: the inputs of the linear layers, and Q/K (after RoPE) and V as the cache holds them. */
    public enum Point { ATTN_IN, QUERY, KEY, VALUE, ATTN_OUT, MLP_IN, MLP_OUT, HEAD_IN }

    /** Changes one token's activation at a point of a layer (−1 for the head) in place; Q/K/V rows hold every head. */
    public interface Hook {
        void at(Point point, int layer, double[] token);

        Hook NONE = (point, layer, token) -> {};
    }

    public F64Llama(LlamaConfig config, double[][] embedding, List<Block> blocks, double[] finalNorm, double[][] head) {
        this.config = config;
        this.embedding = embedding;
        this.blocks = blocks;
        this.finalNorm = finalNorm;
        this.head = head;
    }

    /** An f64 copy of {@code w} (every f32/f16/bf16 value is exact in f64). */
    public static F64Llama of(LlamaWeights w) {
        List<Block> blocks = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers()) blocks.add(new Block(w.config(), l));
        return new F64Llama(w.config(), matrix(w.embedding()), blocks, vector(w.finalNorm()), matrix(w.output()));
    }

    /** Logits [T][vocab] of one sequence. */
    public double[][] logits(int[] tokens) { return logits(tokens, Hook.NONE); }

    public double[][] logits(int[] tokens, Hook hook) {
        double[][] x = new double[tokens.length][];
        for (int t = 0; t < tokens.length; t++) x[t] = embedding[tokens[t]].clone();
        for (int l = 0; l < blocks.size(); l++) x = blocks.get(l).forward(l, x, hook);
        double[][] h = rmsNorm(config, x, finalNorm);
        at(hook, Point.HEAD_IN, -1, h);
        return linear(h, head);
    }

    private static void at(Hook hook, Point point, int layer, double[][] x) {
        for (double[] token : x) hook.at(point, layer, token);
    }

    /** One block's weights in f64 and its forward pass, also step by step (for tests that transform one part). */
    public static final class Block {
        public final LlamaConfig c;
        public double[] attnNorm, ffnNorm;
        public double[][] wq, wk, wv, wo, wGate, wUp, wDown;
        /** Qwen2's q/k/v biases and Qwen3's per-head q/k RMSNorm gains [headDim]; null where the architecture has none. */
        public double[] bq, bk, bv, qNorm, kNorm;

        public Block(LlamaConfig c, LlamaWeights.Layer l) {
            this(c, vector(l.attnNorm()), matrix(l.wq()), matrix(l.wk()), matrix(l.wv()), matrix(l.wo()), vector(l.ffnNorm()),
                    matrix(l.wGate()), matrix(l.wUp()), matrix(l.wDown()));
            bq = orNull(l.bq());
            bk = orNull(l.bk());
            bv = orNull(l.bv());
            qNorm = orNull(l.qNorm());
            kNorm = orNull(l.kNorm());
        }

        private static double[] orNull(Tensor t) { return t == null ? null : vector(t); }

        public Block(LlamaConfig c, double[] attnNorm, double[][] wq, double[][] wk, double[][] wv, double[][] wo, double[] ffnNorm,
                     double[][] wGate, double[][] wUp, double[][] wDown) {
            this.c = c;
            this.attnNorm = attnNorm;
            this.wq = wq;
            this.wk = wk;
            this.wv = wv;
            this.wo = wo;
            this.ffnNorm = ffnNorm;
            this.wGate = wGate;
            this.wUp = wUp;
            this.wDown = wDown;
        }

        /** The block: x + attention, then + SwiGLU MLP. */
        public double[][] forward(double[][] x) { return forward(0, x, Hook.NONE); }

        /** The block as layer {@code layer}, with {@code hook} at its points. */
        public double[][] forward(int layer, double[][] x, Hook hook) {
            double[][] h = rmsNorm(x, attnNorm);
            at(hook, Point.ATTN_IN, layer, h);
            double[][] q = rope(headNorm(bias(linear(h, wq), bq), qNorm)), k = rope(headNorm(bias(linear(h, wk), bk), kNorm));
            double[][] v = bias(linear(h, wv), bv);
            at(hook, Point.QUERY, layer, q);
            at(hook, Point.KEY, layer, k);
            at(hook, Point.VALUE, layer, v);
            double[][] a = heads(scores(q, k), v);
            at(hook, Point.ATTN_OUT, layer, a);
            double[][] r = add(x, linear(a, wo));
            double[][] m = rmsNorm(r, ffnNorm);
            at(hook, Point.MLP_IN, layer, m);
            double[][] gate = linear(m, wGate), up = linear(m, wUp);
            double[][] u = new double[gate.length][gate[0].length];
            for (int t = 0; t < u.length; t++)
                for (int j = 0; j < u[t].length; j++) u[t][j] = gate[t][j] / (1 + Math.exp(-gate[t][j])) * up[t][j];
            at(hook, Point.MLP_OUT, layer, u);
            return add(r, linear(u, wDown));
        }

        public double[][] rmsNorm(double[][] x, double[] gain) { return F64Llama.rmsNorm(c, x, gain); }

        /** x + b on every token (Qwen2's q/k/v); x itself when b is null. */
        public static double[][] bias(double[][] x, double[] b) {
            if (b == null) return x;
            for (double[] row : x) for (int i = 0; i < row.length; i++) row[i] += b[i];
            return x;
        }

        /** Qwen3: RMSNorm over each head's features with the shared gains g [headDim], before RoPE; x itself when g is null. */
        public double[][] headNorm(double[][] x, double[] g) {
            if (g == null) return x;
            int hd = c.headDim();
            double[][] out = new double[x.length][];
            for (int t = 0; t < x.length; t++) {
                out[t] = new double[x[t].length];
                for (int h = 0; h < x[t].length / hd; h++) {
                    double[][] head = {java.util.Arrays.copyOfRange(x[t], h * hd, (h + 1) * hd)};
                    System.arraycopy(F64Llama.rmsNorm(c, head, g)[0], 0, out[t], h * hd, hd);
                }
            }
            return out;
        }

        /** RoPE on [T][heads·hd]: pair i of each head (features (2i, 2i+1) or (i, i + hd/2)) turned by t·invFreq[i]. */
        public double[][] rope(double[][] x) {
            int hd = c.headDim(), half = hd / 2;
            boolean interleaved = c.ropeLayout() == Rope.Layout.INTERLEAVED;
            double[] invFreq = c.ropeInvFreq();
            double[][] y = new double[x.length][];
            for (int t = 0; t < x.length; t++) {
                y[t] = x[t].clone();
                for (int h = 0; h < x[t].length / hd; h++)
                    for (int i = 0; i < half; i++) {
                        int a = h * hd + (interleaved ? 2 * i : i), b = h * hd + (interleaved ? 2 * i + 1 : i + half);
                        double angle = t * invFreq[i], cos = Math.cos(angle), sin = Math.sin(angle);
                        y[t][a] = x[t][a] * cos - x[t][b] * sin;
                        y[t][b] = x[t][a] * sin + x[t][b] * cos;
                    }
            }
            return y;
        }

        /** Scaled causal scores [head][t][s] (s ≤ t; −∞ above) of queries and keys after RoPE; query head h reads KV head h / groupSize. */
        public double[][][] scores(double[][] q, double[][] k) {
            int hd = c.headDim(), t = q.length;
            double[][][] s = new double[c.heads()][t][t];
            for (int h = 0; h < c.heads(); h++) {
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
        public double[][] heads(double[][][] scores, double[][] v) {
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
    }

    // ------------------------------------------------------------ the operations, on [T][features]

    public static double[][] rmsNorm(LlamaConfig c, double[][] x, double[] gain) {
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            double ss = 0;
            for (double v : x[t]) ss += v * v;
            double inv = 1 / Math.sqrt(ss / x[t].length + c.normEps());
            y[t] = new double[x[t].length];
            for (int j = 0; j < x[t].length; j++) y[t][j] = x[t][j] * inv * gain[j];
        }
        return y;
    }

    /** x·wᵀ: [T][in] by [out][in] into [T][out]. */
    public static double[][] linear(double[][] x, double[][] w) {
        double[][] y = new double[x.length][w.length];
        for (int t = 0; t < x.length; t++)
            for (int o = 0; o < w.length; o++) {
                double s = 0;
                for (int i = 0; i < w[o].length; i++) s += x[t][i] * w[o][i];
                y[t][o] = s;
            }
        return y;
    }

    public static double[][] add(double[][] a, double[][] b) {
        double[][] y = new double[a.length][a[0].length];
        for (int t = 0; t < a.length; t++) for (int j = 0; j < a[t].length; j++) y[t][j] = a[t][j] + b[t][j];
        return y;
    }

    // ------------------------------------------------------------ conversions and comparisons

    public static double[] vector(Tensor t) {
        float[] f = t.contiguous().toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** A 2-d tensor [rows, cols] as rows. */
    public static double[][] matrix(Tensor t) { return rows(vector(t), t.size(0), t.size(1)); }

    /** A row-major array as rows. */
    public static double[][] rows(double[] data, int rows, int cols) {
        double[][] d = new double[rows][];
        for (int r = 0; r < rows; r++) d[r] = java.util.Arrays.copyOfRange(data, r * cols, (r + 1) * cols);
        return d;
    }

    /** x [1, T, dim] as [T][dim]. */
    public static double[][] tokens(Tensor x) { return matrix(x.reshape(x.size(1), x.size(2))); }

    /** max |a − b| / max |b| over all elements (finite ones; −∞ masks must coincide). */
    public static double relativeDiff(double[][] a, double[][] b) {
        double num = 0, den = 0;
        for (int t = 0; t < a.length; t++)
            for (int j = 0; j < a[t].length; j++) {
                if (Double.isInfinite(b[t][j]) && a[t][j] == b[t][j]) continue;
                num = Math.max(num, Math.abs(a[t][j] - b[t][j]));
                den = Math.max(den, Math.abs(b[t][j]));
            }
        return num / den;
    }

    public static double relativeDiff(double[][][] a, double[][][] b) {
        double worst = 0;
        for (int h = 0; h < a.length; h++) worst = Math.max(worst, relativeDiff(a[h], b[h]));
        return worst;
    }

    /** max |a − b| over two tables. */
    public static double maxAbsDiff(double[][] a, double[][] b) {
        double m = 0;
        for (int t = 0; t < a.length; t++)
            for (int i = 0; i < a[t].length; i++) m = Math.max(m, Math.abs(a[t][i] - b[t][i]));
        return m;
    }

    public static double maxAbs(double[][] a) {
        double m = 0;
        for (double[] r : a) for (double v : r) m = Math.max(m, Math.abs(v));
        return m;
    }
}
