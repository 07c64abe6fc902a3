package dev.stiefel.llama;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Small LLaMA models with random weights for tests. */
public final class TestModels {
    private TestModels() {}

    public static LlamaConfig config(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, Rope.Layout layout, boolean tied) {
        return new LlamaConfig(dim, hidden, layers, heads, kvHeads, dim / heads, vocab, 1e-5f, 10000, null, layout, tied, 64);
    }

    /** Weights ~ N(0, 1/fan_in) and norm gains around 1, stored in {@code dtype}. */
    public static LlamaWeights random(LlamaConfig c, long seed, DType dtype) {
        Random rnd = new Random(seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            LlamaWeights.Layer x = new LlamaWeights.Layer(gain(rnd, c.dim(), dtype), w(rnd, c.qDim(), c.dim(), dtype), w(rnd, c.kvDim(), c.dim(), dtype),
                    w(rnd, c.kvDim(), c.dim(), dtype), w(rnd, c.dim(), c.qDim(), dtype), gain(rnd, c.dim(), dtype),
                    w(rnd, c.hiddenDim(), c.dim(), dtype), w(rnd, c.hiddenDim(), c.dim(), dtype), w(rnd, c.dim(), c.hiddenDim(), dtype));
            layers.add(withQwenTensors(x, c, rnd, dtype));
        }
        Tensor emb = Tensor.randn(rnd, c.vocabSize(), c.dim()).to(dtype);
        Tensor out = c.tiedEmbeddings() ? null : w(rnd, c.vocabSize(), c.dim(), dtype);
        return new LlamaWeights(c, emb, layers, gain(rnd, c.dim(), dtype), out, List.of());
    }

    /**
     * A Qwen2 or Qwen3 config: random biases of size ~0.5 (Qwen2) or q/k norm gains in [0.5, 1.5) (Qwen3) make
     * every path matter; Qwen3 gets a head dim of {@code dim / heads + 2}, so it differs from hidden/heads as Qwen3's does.
     */
    public static LlamaConfig qwen(LlamaConfig.Architecture arch, int dim, int hidden, int layers, int heads, int kvHeads, int vocab,
                                   boolean tied) {
        int headDim = arch == LlamaConfig.Architecture.QWEN3 ? dim / heads + 2 : dim / heads;
        return new LlamaConfig(dim, hidden, layers, heads, kvHeads, headDim, vocab, 1e-5f, 10000, null, Rope.Layout.HALF, tied, 64, arch);
    }

    /** {@code x} with the random biases or q/k norm gains its architecture needs (none for LLaMA: no draws). */
    public static LlamaWeights.Layer withQwenTensors(LlamaWeights.Layer x, LlamaConfig c, Random rnd, DType dtype) {
        boolean bias = c.architecture().qkvBias(), norm = c.architecture().qkNorm();
        if (!bias && !norm) return x;
        return new LlamaWeights.Layer(x.attnNorm(), x.wq(), x.wk(), x.wv(), x.wo(), x.ffnNorm(), x.wGate(), x.wUp(), x.wDown(),
                bias ? Tensor.randn(rnd, c.qDim()).mul(0.5f).to(dtype) : null,
                bias ? Tensor.randn(rnd, c.kvDim()).mul(0.5f).to(dtype) : null,
                bias ? Tensor.randn(rnd, c.kvDim()).mul(0.5f).to(dtype) : null,
                norm ? gain(rnd, c.headDim(), dtype) : null, norm ? gain(rnd, c.headDim(), dtype) : null);
    }

    private static Tensor w(Random rnd, int out, int in, DType dtype) {
        return Tensor.randn(rnd, out, in).mul((float) (1 / Math.sqrt(in))).to(dtype);
    }

    private static Tensor gain(Random rnd, int n, DType dtype) {
        return Tensor.uniform(rnd, 0.5f, 1.5f, n).to(dtype);
    }

    public static int[] tokens(Random rnd, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(vocab);
        return t;
    }
}
