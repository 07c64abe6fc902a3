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
        for (int l = 0; l < c.layers(); l++)
            layers.add(new LlamaWeights.Layer(gain(rnd, c.dim(), dtype), w(rnd, c.qDim(), c.dim(), dtype), w(rnd, c.kvDim(), c.dim(), dtype),
                    w(rnd, c.kvDim(), c.dim(), dtype), w(rnd, c.dim(), c.qDim(), dtype), gain(rnd, c.dim(), dtype),
                    w(rnd, c.hiddenDim(), c.dim(), dtype), w(rnd, c.hiddenDim(), c.dim(), dtype), w(rnd, c.dim(), c.hiddenDim(), dtype)));
        Tensor emb = Tensor.randn(rnd, c.vocabSize(), c.dim()).to(dtype);
        Tensor out = c.tiedEmbeddings() ? null : w(rnd, c.vocabSize(), c.dim(), dtype);
        return new LlamaWeights(c, emb, layers, gain(rnd, c.dim(), dtype), out, List.of());
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
