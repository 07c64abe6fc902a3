package dev.stiefel.llama.testing;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The one builder of small LLaMA models with random weights for every module's tests (shared through llama's test-jar):
 * any shape (GQA when kvHeads divides heads, MQA when it is 1), either RoPE layout, tied or untied head, any storage
 * dtype, a seed, and optionally outlier channels injected without changing the function the model computes.
 *
 * <p>The draw order (per layer: attn gain, q, k, v, o, ffn gain, gate, up, down; then the embedding, the untied head,
 * the final gain) is fixed: seeded tests assert on the models it gives.
 */
public final class RandomModels {
    private RandomModels() {}

    /** headDim = dim / heads, norm eps 1e-5, RoPE θ 10000 without scaling, a context of 64. */
    public static LlamaConfig config(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, Rope.Layout layout, boolean tied) {
        return new LlamaConfig(dim, hidden, layers, heads, kvHeads, dim / heads, vocab, 1e-5f, 10000, null, layout, tied, 64);
    }

    /** {@link #random(LlamaConfig, long, DType)} in f32. */
    public static LlamaWeights random(LlamaConfig c, long seed) { return random(c, seed, DType.F32); }

    /** Linear weights ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norm gains uniform in [0.5, 1.5); every tensor stored in {@code dtype}. */
    public static LlamaWeights random(LlamaConfig c, long seed, DType dtype) {
        Random rnd = new Random(seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            LlamaWeights.Layer x = new LlamaWeights.Layer(gain(rnd, c.dim(), dtype), linear(rnd, c.qDim(), c.dim(), dtype),
                    linear(rnd, c.kvDim(), c.dim(), dtype), linear(rnd, c.kvDim(), c.dim(), dtype), linear(rnd, c.dim(), c.qDim(), dtype),
                    gain(rnd, c.dim(), dtype), linear(rnd, c.hiddenDim(), c.dim(), dtype), linear(rnd, c.hiddenDim(), c.dim(), dtype),
                    linear(rnd, c.dim(), c.hiddenDim(), dtype));
            layers.add(withQwenTensors(x, c, rnd, dtype));
        }
        Tensor emb = Tensor.randn(rnd, c.vocabSize(), c.dim()).to(dtype);
        Tensor out = c.tiedEmbeddings() ? null : linear(rnd, c.vocabSize(), c.dim(), dtype);
        return new LlamaWeights(c, emb, layers, gain(rnd, c.dim(), dtype), out, List.of());
    }

    /**
     * {@code c} as a Qwen2 (q/k/v biases) or Qwen3 (per-head q/k RMSNorm; a head dim 2 more than dim/heads, since Qwen3's
     * is free of hidden/heads) model of the same sizes.
     */
    public static LlamaConfig qwen(LlamaConfig c, LlamaConfig.Architecture arch) {
        int hd = arch == LlamaConfig.Architecture.QWEN3 ? c.headDim() + 2 : c.headDim();
        return new LlamaConfig(c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(), hd, c.vocabSize(), c.normEps(), c.ropeTheta(),
                c.ropeScaling(), c.ropeLayout(), c.tiedEmbeddings(), c.maxSeqLen(), arch);
    }

    /** A Qwen2/Qwen3 config of the given sizes, rotate-half RoPE, context 64. */
    public static LlamaConfig qwen(LlamaConfig.Architecture arch, int dim, int hidden, int layers, int heads, int kvHeads, int vocab, boolean tied) {
        return qwen(config(dim, hidden, layers, heads, kvHeads, vocab, Rope.Layout.HALF, tied), arch);
    }

    /**
     * {@code x} with the tensors its architecture adds: Qwen2's biases ~ N(0, 0.25), Qwen3's q/k gains in [0.5, 1.5), so
     * every path matters. LLaMA draws nothing more (seeded LLaMA models stay the same).
     */
    private static LlamaWeights.Layer withQwenTensors(LlamaWeights.Layer x, LlamaConfig c, Random rnd, DType dtype) {
        boolean bias = c.architecture().qkvBias(), norm = c.architecture().qkNorm();
        if (!bias && !norm) return x;
        return new LlamaWeights.Layer(x.attnNorm(), x.wq(), x.wk(), x.wv(), x.wo(), x.ffnNorm(), x.wGate(), x.wUp(), x.wDown(),
                bias ? Tensor.randn(rnd, c.qDim()).mul(0.5f).to(dtype) : null, bias ? Tensor.randn(rnd, c.kvDim()).mul(0.5f).to(dtype) : null,
                bias ? Tensor.randn(rnd, c.kvDim()).mul(0.5f).to(dtype) : null,
                norm ? gain(rnd, c.headDim(), dtype) : null, norm ? gain(rnd, c.headDim(), dtype) : null);
    }

    private static Tensor linear(Random rnd, int out, int in, DType dtype) {
        return Tensor.randn(rnd, out, in).mul((float) (1 / Math.sqrt(in))).to(dtype);
    }

    private static Tensor gain(Random rnd, int n, DType dtype) { return Tensor.uniform(rnd, 0.5f, 1.5f, n).to(dtype); }

    /** {@link #withOutliers(LlamaWeights, float, int, int, long)} with as many down_proj channels as norm channels. */
    public static LlamaWeights withOutliers(LlamaWeights w, float factor, int channels, long seed) {
        return withOutliers(w, factor, channels, channels, seed);
    }

    /**
     * The same function with activation outliers as LLMs have them (Dettmers et al. 2022; SmoothQuant §2): in every
     * layer {@code channels} random channels of each norm's gain are multiplied by {@code factor} and the matching input
     * columns of the linears reading that norm (q/k/v, gate/up) divided by it, and {@code downChannels} random rows of
     * up_proj are multiplied by it with down_proj's matching columns divided, so the activations entering q/k/v, gate/up
     * and down_proj have outlier channels while the model computes what it computed before (up to f32 rounding). A
     * channel drawn twice gets factor².
     */
    public static LlamaWeights withOutliers(LlamaWeights w, float factor, int channels, int downChannels, long seed) {
        LlamaConfig c = w.config();
        Random rnd = new Random(seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers()) {
            int n = Math.max(channels, downChannels);
            int[] attn = new int[channels], mlp = new int[channels], down = new int[downChannels];
            for (int i = 0; i < n; i++) {
                int a = rnd.nextInt(c.dim()), m = rnd.nextInt(c.dim()), r = rnd.nextInt(c.hiddenDim());
                if (i < channels) { attn[i] = a; mlp[i] = m; }
                if (i < downChannels) down[i] = r;
            }
            layers.add(withOutliers(c, l, factor, attn, mlp, down));
        }
        return withLayers(w, layers);
    }

    /** The same function with the residual channels {@code channels} made outliers at both norms of every layer (nothing in down_proj). */
    public static LlamaWeights withOutliers(LlamaWeights w, float factor, int[] channels) {
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers()) layers.add(withOutliers(w.config(), l, factor, channels, channels, new int[0]));
        return withLayers(w, layers);
    }

    /**
     * One layer with outlier channel i (in the order given) applied as: attn gain × factor and q/k/v columns ÷ factor,
     * then mlp gain × factor and gate/up columns ÷ factor, then up_proj row × factor and down_proj column ÷ factor.
     */
    private static LlamaWeights.Layer withOutliers(LlamaConfig c, LlamaWeights.Layer l, float factor, int[] attn, int[] mlp, int[] down) {
        int d = c.dim(), h = c.hiddenDim();
        float[] an = l.attnNorm().toFloatArray(), fn = l.ffnNorm().toFloatArray();
        float[] q = l.wq().toFloatArray(), k = l.wk().toFloatArray(), v = l.wv().toFloatArray();
        float[] gate = l.wGate().toFloatArray(), up = l.wUp().toFloatArray(), dn = l.wDown().toFloatArray();
        for (int i = 0; i < Math.max(Math.max(attn.length, mlp.length), down.length); i++) {
            if (i < attn.length) {
                int a = attn[i];
                an[a] *= factor;
                for (float[] x : List.of(q, k, v)) for (int row = 0; row < x.length / d; row++) x[row * d + a] /= factor;
            }
            if (i < mlp.length) {
                int m = mlp[i];
                fn[m] *= factor;
                for (float[] x : List.of(gate, up)) for (int row = 0; row < h; row++) x[row * d + m] /= factor;
            }
            if (i < down.length) {
                int r = down[i];
                for (int j = 0; j < d; j++) up[r * d + j] *= factor;
                for (int row = 0; row < d; row++) dn[row * h + r] /= factor;
            }
        }
        // input-side changes only: q/k/v's outputs, so their biases and q/k norms (Qwen), stay the same
        return l.withMatrices(Tensor.wrap(an, d), Tensor.wrap(q, c.qDim(), d), Tensor.wrap(k, c.kvDim(), d),
                Tensor.wrap(v, c.kvDim(), d), l.wo(), Tensor.wrap(fn, d), Tensor.wrap(gate, h, d), Tensor.wrap(up, h, d),
                Tensor.wrap(dn, d, h));
    }

    /** {@code w} with other blocks (embedding, final norm and head kept; a tied head stays tied). */
    public static LlamaWeights withLayers(LlamaWeights w, List<LlamaWeights.Layer> layers) {
        LlamaConfig c = w.config();
        return new LlamaWeights(c, w.embedding(), layers, w.finalNorm(), c.tiedEmbeddings() ? null : w.output(), List.of());
    }

    /** n tokens uniform over the vocabulary. */
    public static int[] tokens(Random rnd, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(vocab);
        return t;
    }

    /** n random sequences of ids [1, length]. */
    public static List<Tensor> sequences(Random rnd, int n, int length, int vocab) {
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(Tensor.ofInts(tokens(rnd, length, vocab), 1, length));
        return out;
    }
}
