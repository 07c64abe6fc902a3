package dev.stiefel.quant;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * New {@link LlamaWeights} from old ones with some tensors replaced (quantized linears, a quantized embedding or
 * head). Tensors not replaced are shared with the base weights. When only one of a tied embedding/head pair is
 * replaced, the result has a separate head and an untied config.
 */
public final class WeightsBuilder {
    private final LlamaWeights base;
    private final Tensor[][] linears;
    private Tensor embedding, head;

    public WeightsBuilder(LlamaWeights base) {
        this.base = base;
        int layers = base.config().layers();
        linears = new Tensor[layers][Linears.BLOCK.size()];
        for (int l = 0; l < layers; l++)
            for (Linear which : Linears.BLOCK) linears[l][which.ordinal()] = Linears.weight(base, l, which);
        embedding = base.embedding();
        head = base.output();
    }

    public LlamaWeights base() { return base; }

    /** The current tensor of a linear layer (replaced or not); HEAD is the head. */
    public Tensor get(int layer, Linear which) { return which == Linear.HEAD ? head : linears[layer][which.ordinal()]; }

    public WeightsBuilder set(int layer, Linear which, Tensor t) {
        if (which == Linear.HEAD) return head(t);
        linears[layer][which.ordinal()] = t;
        return this;
    }

    public WeightsBuilder embedding(Tensor t) { embedding = t; return this; }

    public WeightsBuilder head(Tensor t) { head = t; return this; }

    /** Block {@code l} as it stands: the base's norms, the linears set so far. */
    public LlamaWeights.Layer layer(int l) {
        LlamaWeights.Layer b = base.layer(l);
        Tensor[] t = linears[l];
        // quantizing a weight leaves its layer's bias and the q/k norms (Qwen) as they are
        return b.withMatrices(b.attnNorm(), t[Linear.Q.ordinal()], t[Linear.K.ordinal()], t[Linear.V.ordinal()],
                t[Linear.O.ordinal()], b.ffnNorm(), t[Linear.GATE.ordinal()], t[Linear.UP.ordinal()], t[Linear.DOWN.ordinal()]);
    }

    /** Checks every shape (through {@link LlamaWeights}'s constructor) and builds the weights; no resources are owned. */
    public LlamaWeights build() {
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < linears.length; l++) layers.add(layer(l));
        LlamaConfig config = base.config();
        boolean tied = head == embedding;
        if (config.tiedEmbeddings() != tied) config = config.withTiedEmbeddings(tied);
        return new LlamaWeights(config, embedding, layers, base.finalNorm(), tied ? null : head, List.of());
    }
}
