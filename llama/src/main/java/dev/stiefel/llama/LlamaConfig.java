package dev.stiefel.llama;

import dev.stiefel.tensor.Rope;

/**
 * The hyper-parameters of a LLaMA-family decoder (LLaMA-1/2/3, TinyLlama, SmolLM, Mistral-style dense models).
 *
 * @param dim          hidden size d of the residual stream
 * @param hiddenDim    intermediate size of the SwiGLU MLP
 * @param layers       number of transformer blocks
 * @param heads        query heads
 * @param kvHeads      key/value heads (heads for MHA, fewer for GQA, 1 for MQA); must divide heads
 * @param headDim      features per head (dim / heads for every model of the family so far)
 * @param vocabSize    rows of the embedding and of the output head
 * @param normEps      RMSNorm epsilon
 * @param ropeTheta    RoPE base θ
 * @param ropeScaling  LLaMA-3.1's frequency scaling, or null
 * @param ropeLayout   which feature pairs RoPE rotates; it follows the checkpoint's Q/K row order
 *                     (HF: {@link Rope.Layout#HALF}; llama2.c and GGUF: {@link Rope.Layout#INTERLEAVED})
 * @param tiedEmbeddings whether the output head reuses the embedding table
 * @param maxSeqLen    the context length the model was trained for
 */
public record LlamaConfig(int dim, int hiddenDim, int layers, int heads, int kvHeads, int headDim, int vocabSize,
                          float normEps, double ropeTheta, RopeScaling ropeScaling, Rope.Layout ropeLayout,
                          boolean tiedEmbeddings, int maxSeqLen) {

    /**
     * LLaMA-3.1's "llama3" rope scaling: wavelengths longer than originalMaxPositions/lowFreqFactor are divided
     * by factor, shorter than originalMaxPositions/highFreqFactor are kept, and the band between is blended.
     */
    public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {}

    public LlamaConfig {
        require(dim > 0 && hiddenDim > 0 && layers > 0 && heads > 0 && kvHeads > 0 && headDim > 0 && vocabSize > 0 && maxSeqLen > 0,
                "every size must be positive");
        require(heads % kvHeads == 0, "heads (" + heads + ") must be a multiple of kvHeads (" + kvHeads + ")");
        require(headDim % 2 == 0, "headDim must be even for RoPE, got " + headDim);
        require(normEps > 0, "normEps must be positive, got " + normEps);
        require(ropeTheta > 0, "ropeTheta must be positive, got " + ropeTheta);
        require(ropeLayout != null, "ropeLayout is required");
    }

    private void require(boolean ok, String what) {
        if (!ok) throw new IllegalArgumentException("llama config: " + what + " (" + this + ")");
    }

    /** Query heads that share one key/value head. */
    public int groupSize() { return heads / kvHeads; }

    public int kvDim() { return kvHeads * headDim; }

    public int qDim() { return heads * headDim; }

    /** The same model with its Q/K rows in another RoPE layout (after permuting them). */
    public LlamaConfig withRopeLayout(Rope.Layout layout) {
        return new LlamaConfig(dim, hiddenDim, layers, heads, kvHeads, headDim, vocabSize, normEps, ropeTheta, ropeScaling,
                layout, tiedEmbeddings, maxSeqLen);
    }

    public LlamaConfig withTiedEmbeddings(boolean tied) {
        return new LlamaConfig(dim, hiddenDim, layers, heads, kvHeads, headDim, vocabSize, normEps, ropeTheta, ropeScaling,
                ropeLayout, tied, maxSeqLen);
    }

    /** RoPE inverse frequencies θ^(−2i/d), with LLaMA-3.1's scaling applied when configured (computed in f64). */
    public double[] ropeInvFreq() {
        double[] f = Rope.frequencies(headDim, ropeTheta);
        if (ropeScaling == null) return f;
        RopeScaling s = ropeScaling;
        double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
        double highWavelen = s.originalMaxPositions() / s.highFreqFactor();
        for (int i = 0; i < f.length; i++) {
            double wavelen = 2 * Math.PI / f[i];
            if (wavelen < highWavelen) continue;
            if (wavelen > lowWavelen) { f[i] /= s.factor(); continue; }
            double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
            f[i] = (1 - smooth) * f[i] / s.factor() + smooth * f[i];
        }
        return f;
    }

    public Rope rope() { return new Rope(ropeInvFreq(), ropeLayout); }
}
