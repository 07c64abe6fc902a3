package dev.stiefel.llama;

import dev.stiefel.autograd.Checkpoint;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The LLaMA decoder (Touvron et al. 2023): embedding → blocks of [RMSNorm → attention with RoPE and GQA →
 * residual → RMSNorm → SwiGLU MLP → residual] → final RMSNorm → logits. Qwen2's q/k/v biases and Qwen3's per-head
 * q/k RMSNorm ({@link LlamaConfig.Architecture}) are the two lines where those models differ.
 *
 * <p>One forward pass serves both modes. Inference runs it under {@link Grad#off()} with a {@link KvCache}: no
 * graph is recorded and each decoded token costs one pass over the weights. Calibration runs it with the tape on
 * and without a cache: whatever the {@link Hooks} make learnable (scales, rotations, clipping factors) receives
 * gradients through the frozen weights. The hooks are called at the exact lines where the methods act.
 */
public final class LlamaModel {
    private final LlamaWeights weights;
    private final LlamaConfig config;
    private final Rope rope;
    private final Hooks hooks;
    /** Weights being trained, by identity: the forward uses these parameters instead of constants. */
    private final Map<Tensor, Var> trained;
    /** With the tape on, each block is recomputed in backward ({@link Checkpoint}) closing over these; null: recorded. */
    private final List<Var> checkpointed;

    public LlamaModel(LlamaWeights weights) { this(weights, Hooks.NONE); }

    public LlamaModel(LlamaWeights weights, Hooks hooks) { this(weights, hooks, new IdentityHashMap<>(), null); }

    private LlamaModel(LlamaWeights weights, Hooks hooks, Map<Tensor, Var> trained, List<Var> checkpointed) {
        this.weights = weights;
        this.config = weights.config();
        this.rope = config.rope();
        this.hooks = hooks;
        this.trained = trained;
        this.checkpointed = checkpointed;
    }

    /** The same weights seen through other hooks (a quantized or transformed view of the model). */
    public LlamaModel withHooks(Hooks hooks) { return new LlamaModel(weights, hooks, trained, checkpointed); }

    /**
     * The same model with activation checkpointing (Chen et al. 2016): on the tape, each block keeps only its input and
     * runs again when its gradient arrives, so a backward pass holds one block's activations instead of every block's
     * (for a 1.1B model on 2048 tokens, gigabytes). {@code params} are the parameters the blocks read (their weights
     * when trainable, the hooks' learnable transforms): they receive their gradients during each block's recompute. The
     * values are the same; the gradients are the same up to the order their terms are summed in.
     */
    public LlamaModel checkpointed(List<Var> params) { return new LlamaModel(weights, hooks, trained, List.copyOf(params)); }

    /**
     * The same model with every weight a parameter (training from scratch): the forward reads the parameters' tensors,
     * which are the weights' own tensors, so an optimizer step updates the model in place. Weights must be heap f32.
     * A tied embedding is one parameter used twice, so it receives both gradients.
     */
    public LlamaModel trainable() {
        Map<Tensor, Var> params = new IdentityHashMap<>();
        for (Tensor t : weights.tensors()) params.computeIfAbsent(t, Var::param);
        return new LlamaModel(weights, hooks, params, checkpointed);
    }

    /** The parameters of a {@link #trainable()} model, in {@link LlamaWeights#tensors()} order, each once. */
    public List<Var> parameters() {
        List<Var> out = new ArrayList<>();
        Set<Var> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (Tensor t : weights.tensors()) {
            Var v = trained.get(t);
            if (v != null && seen.add(v)) out.add(v);
        }
        return out;
    }

    /** The weight tensor as the forward uses it: its parameter when trained, else a constant. */
    private Var w(Tensor t) {
        Var v = trained.get(t);
        return v != null ? v : Var.of(t);
    }

    public LlamaConfig config() { return config; }

    public LlamaWeights weights() { return weights; }

    public Hooks hooks() { return hooks; }

    public KvCache newCache(int batch, int capacity) { return new KvCache(config, batch, capacity); }

    // ------------------------------------------------------------ the forward pass

    /**
     * Logits [B, T, vocab] for token ids [B, T] (i32). With a cache, the tokens continue what the cache holds
     * and their keys and values are appended to it; without one they start at position 0.
     */
    public Var forward(Tensor ids, KvCache cache) {
        Var x = embed(ids);
        int start = cache == null ? 0 : cache.length();
        x = blocks(x, start, cache);
        if (cache != null) cache.advance(ids.size(1));
        return head(x);
    }

    /** Every block in turn on the residual stream x (checkpointed when this model is, the tape on and no cache). */
    public Var blocks(Var x, int start, KvCache cache) {
        boolean recompute = checkpointed != null && cache == null && Grad.enabled();
        for (int l = 0; l < config.layers(); l++) {
            int layer = l;
            x = recompute ? Checkpoint.run(in -> block(layer, in[0], start, null), checkpointed, x) : block(l, x, start, cache);
        }
        return x;
    }

    /** Logits [B, vocab] of the last position only, for generation (the head runs on one token per row). */
    public Tensor nextLogits(Tensor ids, KvCache cache) {
        try (var off = Grad.off()) {
            Var x = embed(ids);
            int start = cache == null ? 0 : cache.length();
            x = blocks(x, start, cache);
            if (cache != null) cache.advance(ids.size(1));
            int t = ids.size(1);
            return head(x.narrow(1, t - 1, 1)).value().reshape(ids.size(0), config.vocabSize());
        }
    }

    /** Token embeddings [B, T, dim] for ids [B, T]. */
    public Var embed(Tensor ids) {
        if (ids.dim() != 2) throw new IllegalArgumentException("llama: token ids must be [batch, tokens], got " + Shape.str(ids.shape()));
        for (int id : ids.contiguous().toIntArray())
            if (id < 0 || id >= config.vocabSize())
                throw new IllegalArgumentException("llama: token id " + id + " is outside the vocabulary [0, " + config.vocabSize() + ")");
        return w(weights.embedding()).embedding(ids);
    }

    /**
     * Block {@code l} on the residual stream x [B, T, dim] whose first token sits at position {@code start}: attention,
     * then the MLP, each added to the residual stream. The four parts are public so that a calibration pass can stop
     * after one, keep what it computed, and go on from there later (true-sequential GPTQ).
     */
    public Var block(int l, Var x, int start, KvCache cache) {
        Var heads = attentionHeads(l, x, start, cache);
        x = attentionResidual(l, x, heads);
        Var act = mlpActivation(l, x);
        Var out = mlpResidual(l, x, act);
        MappedPages.doneWith(weights.layer(l)); // computed eagerly: the block's weights are not read again in this pass
        return out;
    }

    /**
     * Block l's attention up to the output projection: softmax(q·kᵀ/√d)·v [B, T, H·d] on h = RMSNorm(x), as the o
     * projection reads it ({@link Input#ATTN_OUT}, after its hook).
     */
    public Var attentionHeads(int l, Var x, int start, KvCache cache) {
        LlamaWeights.Layer lw = weights.layer(l);
        int[] s = x.shape();
        int b = s[0], t = s[1], heads = config.heads(), kvHeads = config.kvHeads(), hd = config.headDim();
        int[] positions = new int[t];
        for (int i = 0; i < t; i++) positions[i] = start + i;

        // h = RMSNorm(x); q, k, v = h·Wqᵀ (+ bq), h·Wkᵀ (+ bk), h·Wvᵀ (+ bv); RoPE on q and k
        Var h = hooks.input(l, Input.ATTN_IN, x.rmsNorm(w(lw.attnNorm()), config.normEps()));
        Var q = linear(l, Linear.Q, h, lw.wq(), lw.bq()).reshape(b, t, heads, hd);
        Var k = linear(l, Linear.K, h, lw.wk(), lw.bk()).reshape(b, t, kvHeads, hd);
        Var v = linear(l, Linear.V, h, lw.wv(), lw.bv()).reshape(b, t, kvHeads, hd);
        if (config.architecture().qkNorm()) { // Qwen3: q, k = RMSNorm(q)·g_q, RMSNorm(k)·g_k over each head's features
            q = q.rmsNorm(w(lw.qNorm()), config.normEps());
            k = k.rmsNorm(w(lw.kNorm()), config.normEps());
        }
        q = q.rope(rope, positions);
        k = k.rope(rope, positions);
        q = hooks.query(l, q);
        k = hooks.key(l, k);   // this is what the KV cache stores (quantized K cache goes here)
        v = hooks.value(l, v);
        if (cache != null) {
            if (k.requiresGrad() || v.requiresGrad())
                throw new IllegalStateException("llama: a KV cache holds plain tensors; run differentiable passes without one");
            Tensor[] kv = cache.append(l, k.value(), v.value());
            k = Var.of(kv[0]);
            v = Var.of(kv[1]);
        }
        return hooks.input(l, Input.ATTN_OUT, attention(q, k, v));
    }

    /** The residual stream after block l's attention: x + heads·Woᵀ. */
    public Var attentionResidual(int l, Var x, Var heads) {
        return x.add(linear(l, Linear.O, heads, weights.layer(l).wo()));
    }

    /**
     * Block l's MLP up to the down projection: SwiGLU's silu(h·Wgateᵀ) ⊙ h·Wupᵀ on h = RMSNorm(x), as the down
     * projection reads it ({@link Input#MLP_OUT}, after its hook).
     */
    public Var mlpActivation(int l, Var x) {
        LlamaWeights.Layer lw = weights.layer(l);
        Var m = hooks.input(l, Input.MLP_IN, x.rmsNorm(w(lw.ffnNorm()), config.normEps()));
        Var act = linear(l, Linear.GATE, m, lw.wGate()).swiglu(linear(l, Linear.UP, m, lw.wUp())); // silu(gate) ⊙ up
        return hooks.input(l, Input.MLP_OUT, act);
    }

    /** The residual stream after block l: x + act·Wdownᵀ. */
    public Var mlpResidual(int l, Var x, Var act) {
        return x.add(linear(l, Linear.DOWN, act, weights.layer(l).wDown()));
    }

    /** Final RMSNorm and the output head: logits [B, T, vocab]. */
    public Var head(Var x) {
        Var h = hooks.input(-1, Input.HEAD_IN, x.rmsNorm(w(weights.finalNorm()), config.normEps()));
        return linear(-1, Linear.HEAD, h, weights.output());
    }

    /**
     * softmax(q·kᵀ/√d + causal mask)·v per head, with each group of heads/kvHeads query heads sharing one key/value
     * head (GQA): q [B, T, H, d], k and v [B, S, KVH, d] (S = cached + new tokens) → [B, T, H·d]. One fused op on the
     * tape (autograd's {@code Var.attention}); query i sees keys up to S − T + i.
     */
    private Var attention(Var q, Var k, Var v) {
        int[] qs = q.shape();
        int b = qs[0], t = qs[1], heads = qs[2], hd = qs[3], s = k.shape()[1];
        Tensor mask = t > 1 ? Backends.current().causalMask(t, s) : null; // a device keeps it for every layer
        return Var.attention(q, k, v, mask, (float) (1 / Math.sqrt(hd))).reshape(b, t, heads * hd);
    }

    /** y = x·Wᵀ for x [B, T, in] as one [B·T, in] product; the weight passes through its hook first. */
    private Var linear(int l, Linear which, Var x, Tensor weight) { return linear(l, which, x, weight, null); }

    /** y = x·Wᵀ + b, the bias (if any) through its hook; a layer without one computes exactly x·Wᵀ. */
    private Var linear(int l, Linear which, Var x, Tensor weight, Tensor bias) {
        int[] s = x.shape();
        int rows = s[0] * s[1];
        Var used = hooks.weight(l, which, w(weight));
        Var y = x.reshape(rows, s[2]).matmul(used.t());
        if (bias != null) y = y.add(hooks.bias(l, which, w(bias)));
        return y.reshape(s[0], s[1], used.shape()[0]);
    }
}
