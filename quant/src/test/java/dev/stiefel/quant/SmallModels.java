package dev.stiefel.quant;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Small LLaMA models with random weights (the few lines of llama's test TestModels these tests need). */
public final class SmallModels {
    private SmallModels() {}

    public static LlamaConfig config(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, boolean tied) {
        return new LlamaConfig(dim, hidden, layers, heads, kvHeads, dim / heads, vocab, 1e-5f, 10000, null, Rope.Layout.HALF, tied, 64);
    }

    /** {@code c} as a Qwen2 (q/k/v biases) or Qwen3 (q/k norms; head dim 2 more than dim/heads, as Qwen3's differs) model. */
    public static LlamaConfig qwen(LlamaConfig c, LlamaConfig.Architecture arch) {
        int hd = arch == LlamaConfig.Architecture.QWEN3 ? c.headDim() + 2 : c.headDim();
        return new LlamaConfig(c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(), hd, c.vocabSize(), c.normEps(), c.ropeTheta(),
                c.ropeScaling(), c.ropeLayout(), c.tiedEmbeddings(), c.maxSeqLen(), arch);
    }

    /** Weights ~ N(0, 1/fan_in), norm gains in [0.5, 1.5], embeddings ~ N(0, 1); f32. */
    public static LlamaWeights random(LlamaConfig c, long seed) {
        Random rnd = new Random(seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            LlamaWeights.Layer x = new LlamaWeights.Layer(gain(rnd, c.dim()), w(rnd, c.qDim(), c.dim()), w(rnd, c.kvDim(), c.dim()),
                    w(rnd, c.kvDim(), c.dim()), w(rnd, c.dim(), c.qDim()), gain(rnd, c.dim()),
                    w(rnd, c.hiddenDim(), c.dim()), w(rnd, c.hiddenDim(), c.dim()), w(rnd, c.dim(), c.hiddenDim()));
            boolean bias = c.architecture().qkvBias(), norm = c.architecture().qkNorm();
            if (bias || norm) // Qwen2's biases ~ N(0, 0.25), Qwen3's q/k gains in [0.5, 1.5]; LLaMA draws nothing more
                x = new LlamaWeights.Layer(x.attnNorm(), x.wq(), x.wk(), x.wv(), x.wo(), x.ffnNorm(), x.wGate(), x.wUp(), x.wDown(),
                        bias ? Tensor.randn(rnd, c.qDim()).mul(0.5f) : null, bias ? Tensor.randn(rnd, c.kvDim()).mul(0.5f) : null,
                        bias ? Tensor.randn(rnd, c.kvDim()).mul(0.5f) : null, norm ? gain(rnd, c.headDim()) : null, norm ? gain(rnd, c.headDim()) : null);
            layers.add(x);
        }
        Tensor emb = Tensor.randn(rnd, c.vocabSize(), c.dim());
        Tensor out = c.tiedEmbeddings() ? null : w(rnd, c.vocabSize(), c.dim());
        return new LlamaWeights(c, emb, layers, gain(rnd, c.dim()), out, List.of());
    }

    private static Tensor w(Random rnd, int out, int in) { return Tensor.randn(rnd, out, in).mul((float) (1 / Math.sqrt(in))); }

    private static Tensor gain(Random rnd, int n) { return Tensor.uniform(rnd, 0.5f, 1.5f, n); }

    /**
     * The same function with activation outliers as LLMs have them (Dettmers et al. 2022; SmoothQuant §2): in every
     * layer {@code channels} fixed channels of each norm's gain are multiplied by {@code factor} and the matching input
     * columns of the linears reading that norm (q/k/v, gate/up) divided by it, and {@code downChannels} rows of up_proj
     * are multiplied by it with down_proj's matching columns divided, so the activations entering q/k/v, gate/up and
     * down_proj have outlier channels while the model computes what it computed before (up to f32 rounding).
     */
    public static LlamaWeights withOutliers(LlamaWeights w, float factor, int channels, long seed) {
        return withOutliers(w, factor, channels, channels, seed);
    }

    public static LlamaWeights withOutliers(LlamaWeights w, float factor, int channels, int downChannels, long seed) {
        LlamaConfig c = w.config();
        Random rnd = new Random(seed);
        int d = c.dim(), h = c.hiddenDim();
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers()) {
            float[] an = l.attnNorm().toFloatArray(), fn = l.ffnNorm().toFloatArray();
            float[] q = l.wq().toFloatArray(), k = l.wk().toFloatArray(), v = l.wv().toFloatArray();
            float[] gate = l.wGate().toFloatArray(), up = l.wUp().toFloatArray(), down = l.wDown().toFloatArray();
            for (int i = 0; i < Math.max(channels, downChannels); i++) {
                int a = rnd.nextInt(d), m = rnd.nextInt(d), r = rnd.nextInt(h);
                if (i < channels) {
                    an[a] *= factor;
                    for (float[] x : List.of(q, k, v)) for (int row = 0; row < x.length / d; row++) x[row * d + a] /= factor;
                    fn[m] *= factor;
                    for (float[] x : List.of(gate, up)) for (int row = 0; row < h; row++) x[row * d + m] /= factor;
                }
                if (i >= downChannels) continue;
                for (int j = 0; j < d; j++) up[r * d + j] *= factor;
                for (int row = 0; row < d; row++) down[row * h + r] /= factor;
            }
            layers.add(l.withMatrices(Tensor.wrap(an, d), Tensor.wrap(q, c.qDim(), d), Tensor.wrap(k, c.kvDim(), d),
                    Tensor.wrap(v, c.kvDim(), d), l.wo(), Tensor.wrap(fn, d), Tensor.wrap(gate, h, d), Tensor.wrap(up, h, d),
                    Tensor.wrap(down, d, h))); // input-side changes: the q/k/v outputs, so their biases, are the same
        }
        return new LlamaWeights(c, w.embedding(), layers, w.finalNorm(), c.tiedEmbeddings() ? null : w.output(), List.of());
    }

    /** ||logits(q) − logits(fp)|| / ||logits(fp)|| over the sequences (ids [B, T] each), in f64. */
    public static double relativeLogitError(LlamaModel fp, LlamaModel q, List<Tensor> sequences) {
        double num = 0, den = 0;
        try (var _ = Grad.off()) {
            for (Tensor ids : sequences) {
                float[] a = fp.forward(ids, null).value().toFloatArray(), b = q.forward(ids, null).value().toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    double d = (double) b[i] - a[i];
                    num += d * d;
                    den += (double) a[i] * a[i];
                }
            }
        }
        return Math.sqrt(num / den);
    }

    /** n random sequences [1, length]. */
    public static List<Tensor> sequences(Random rnd, int n, int length, int vocab) {
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(Tensor.ofInts(tokens(rnd, length, vocab), 1, length));
        return out;
    }

    public static int[] tokens(Random rnd, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(vocab);
        return t;
    }

    /** n calibration samples of t random tokens. */
    public static dev.stiefel.quant.calib.CalibrationData calibration(int n, int t, int vocab, long seed) {
        Random rnd = new Random(seed);
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < n; i++) s.add(tokens(rnd, t, vocab));
        return new dev.stiefel.quant.calib.CalibrationData(s, "random tokens", seed);
    }
}
