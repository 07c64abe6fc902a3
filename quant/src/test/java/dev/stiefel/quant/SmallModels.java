package dev.stiefel.quant;

import dev.stiefel.llama.LlamaConfig;
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

    /** Weights ~ N(0, 1/fan_in), norm gains in [0.5, 1.5], embeddings ~ N(0, 1); f32. */
    public static LlamaWeights random(LlamaConfig c, long seed) {
        Random rnd = new Random(seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++)
            layers.add(new LlamaWeights.Layer(gain(rnd, c.dim()), w(rnd, c.qDim(), c.dim()), w(rnd, c.kvDim(), c.dim()),
                    w(rnd, c.kvDim(), c.dim()), w(rnd, c.dim(), c.qDim()), gain(rnd, c.dim()),
                    w(rnd, c.hiddenDim(), c.dim()), w(rnd, c.hiddenDim(), c.dim()), w(rnd, c.dim(), c.hiddenDim())));
        Tensor emb = Tensor.randn(rnd, c.vocabSize(), c.dim());
        Tensor out = c.tiedEmbeddings() ? null : w(rnd, c.vocabSize(), c.dim());
        return new LlamaWeights(c, emb, layers, gain(rnd, c.dim()), out, List.of());
    }

    private static Tensor w(Random rnd, int out, int in) { return Tensor.randn(rnd, out, in).mul((float) (1 / Math.sqrt(in))); }

    private static Tensor gain(Random rnd, int n) { return Tensor.uniform(rnd, 0.5f, 1.5f, n); }

    public static int[] tokens(Random rnd, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(vocab);
        return t;
    }
}
