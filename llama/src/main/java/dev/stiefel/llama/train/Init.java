package dev.stiefel.llama.train;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Initial weights for training from scratch, as GPT-2 and llama2.c's train.py do: every matrix N(0, 0.02²), the
 * projections that write into the residual stream (o_proj, down_proj) N(0, (0.02/√(2·layers))²) so the stream's
 * variance does not grow with depth, norm gains 1. Heap f32 tensors, so an optimizer can update them in place.
 */
public final class Init {
    private Init() {}

    public static LlamaWeights gpt2(LlamaConfig c, long seed) {
        Random rnd = new Random(seed);
        double std = 0.02, residual = 0.02 / Math.sqrt(2.0 * c.layers());
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++)
            layers.add(new LlamaWeights.Layer(Tensor.ones(c.dim()), normal(rnd, std, c.qDim(), c.dim()), normal(rnd, std, c.kvDim(), c.dim()),
                    normal(rnd, std, c.kvDim(), c.dim()), normal(rnd, residual, c.dim(), c.qDim()), Tensor.ones(c.dim()),
                    normal(rnd, std, c.hiddenDim(), c.dim()), normal(rnd, std, c.hiddenDim(), c.dim()), normal(rnd, residual, c.dim(), c.hiddenDim())));
        Tensor emb = normal(rnd, std, c.vocabSize(), c.dim());
        Tensor out = c.tiedEmbeddings() ? null : normal(rnd, std, c.vocabSize(), c.dim());
        return new LlamaWeights(c, emb, layers, Tensor.ones(c.dim()), out, List.of());
    }

    private static Tensor normal(Random rnd, double std, int rows, int cols) {
        return Tensor.randn(rnd, rows, cols).mul((float) std);
    }
}
