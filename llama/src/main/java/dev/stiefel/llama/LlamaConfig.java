package dev.stiefel.llama;

import dev.stiefel.tensor.Rope;

/**
 * The hyper-parameters of a LLaMA-family decoder (LLaMA-1/2/3, TinyLlama, SmolLM, Mistral-style dense models, and
 * the two Qwen variants of the same block: Qwen2/Qwen2.5 with q/k/v biases, Qwen3 with a per-head RMSNorm on q and k).
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
 * @param architecture which variant of the block: what the attention has beside LLaMA's four projections
 */
public record LlamaConfig(int dim, int hiddenDim, int layers, int heads, int kvHeads, int headDim, int vocabSize,
                          float normEps, double ropeTheta, RopeScaling ropeScaling, Rope.Layout ropeLayout,
                          boolean tiedEmbeddings, int maxSeqLen, Architecture architecture) {

    /**
     * The block variants this model computes. They differ only inside attention, before RoPE:
     * <ul>
     *   <li>{@code LLAMA}: q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ (LLaMA, Mistral, TinyLlama, SmolLM).</li>
     *   <li>{@code QWEN2}: q, k, v = h·Wᵀ + b with a bias on each of the three (Qwen2/Qwen2.5: transformers'
     *       Qwen2Attention; o_proj has none).</li>
     *   <li>{@code QWEN3}: per head, q = RMSNorm(h·Wqᵀ)·g_q and k = RMSNorm(h·Wkᵀ)·g_k over the head's headDim
     *       features, with gains g_q, g_k [headDim] shared by all heads of a layer (Qwen3Attention's q_norm/k_norm);
     *       headDim is free of dim/heads.</li>
     * </ul>
     */
    public enum Architecture {
        LLAMA, QWEN2, QWEN3;

        /** Whether q_proj, k_proj and v_proj add a bias. */
        public boolean qkvBias() { return this == QWEN2; }

        /** Whether q and k pass a per-head RMSNorm before RoPE. */
        public boolean qkNorm() { return this == QWEN3; }
    }

    /** A LLaMA block (no q/k/v biases, no q/k norms). */
    public LlamaConfig(int dim, int hiddenDim, int layers, int heads, int kvHeads, int headDim, int vocabSize,
                       float normEps, double ropeTheta, RopeScaling ropeScaling, Rope.Layout ropeLayout,
                       boolean tiedEmbeddings, int maxSeqLen) {
        this(dim, hiddenDim, layers, heads, kvHeads, headDim, vocabSize, normEps, ropeTheta, ropeScaling, ropeLayout,
                tiedEmbeddings, maxSeqLen, Architecture.LLAMA);
    }

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
        require(architecture != null, "architecture is required");
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
                layout, tiedEmbeddings, maxSeqLen, architecture);
    }

    public LlamaConfig withTiedEmbeddings(boolean tied) {
        return new LlamaConfig(dim, hiddenDim, layers, heads, kvHeads, headDim, vocabSize, normEps, ropeTheta, ropeScaling,
                ropeLayout, tied, maxSeqLen, architecture);
    }

    /** The same sizes with another block variant (its weights must then have that variant's tensors). */
    public LlamaConfig withArchitecture(Architecture arch) {
        return new LlamaConfig(dim, hiddenDim, layers, heads, kvHeads, headDim, vocabSize, normEps, ropeTheta, ropeScaling,
                ropeLayout, tiedEmbeddings, maxSeqLen, arch);
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
