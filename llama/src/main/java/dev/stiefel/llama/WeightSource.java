package dev.stiefel.llama;

import dev.stiefel.tensor.Tensor;

/**
 * A model's tensors handed out one part at a time, for writers that stream a checkpoint: a source may build each part
 * on demand and keep nothing ({@link SyntheticWeights#source}: a LLaMA-2-7B of random bf16 weights is 13.5 GB, which a
 * writer holding every tensor would need as heap). {@link LlamaWeights} is the source that holds everything.
 */
public interface WeightSource {
    LlamaConfig config();

    Tensor embedding();

    /** Block {@code l}; a source may build it anew on each call, so a caller takes what it needs from one call. */
    LlamaWeights.Layer layer(int l);

    Tensor finalNorm();

    /** The output head; the embedding itself when the config ties them. */
    Tensor output();
}
