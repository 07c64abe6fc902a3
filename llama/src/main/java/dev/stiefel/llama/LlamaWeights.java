package dev.stiefel.llama;

import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The tensors of a LLaMA model, as every loader produces them and the forward pass reads them. Linear weights
 * are in PyTorch's {@code [out, in]} layout (y = x·Wᵀ); Q/K rows are in the order {@link LlamaConfig#ropeLayout()}
 * says. Tensors may be memory-mapped views of any floating dtype; {@link #close()} releases what the loader
 * opened, after which the tensors must not be used.
 */
public final class LlamaWeights implements WeightSource, AutoCloseable {

    /**
     * One transformer block: the attention norm and projections, then the MLP norm and SwiGLU projections; then what
     * the Qwen variants add to attention ({@link LlamaConfig.Architecture}): the q/k/v biases [qDim], [kvDim], [kvDim]
     * (Qwen2) and the per-head q/k RMSNorm gains [headDim] (Qwen3), each null where the architecture has none. The
     * q bias and both gains follow the Q/K row order of {@link LlamaConfig#ropeLayout()} like wq and wk do.
     */
    public record Layer(Tensor attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo,
                        Tensor ffnNorm, Tensor wGate, Tensor wUp, Tensor wDown,
                        Tensor bq, Tensor bk, Tensor bv, Tensor qNorm, Tensor kNorm) {

        /** A LLaMA block: no biases, no q/k norms. */
        public Layer(Tensor attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo,
                     Tensor ffnNorm, Tensor wGate, Tensor wUp, Tensor wDown) {
            this(attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown, null, null, null, null, null);
        }

        /**
         * This block with new norms and matrices and the same biases and q/k norms: for changes that leave the
         * outputs of q_proj, k_proj and v_proj as they were (weight quantization, transforms on their inputs).
         */
        public Layer withMatrices(Tensor attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo,
                                  Tensor ffnNorm, Tensor wGate, Tensor wUp, Tensor wDown) {
            return new Layer(attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown, bq, bk, bv, qNorm, kNorm);
        }

        /** The tensors of {@link #withMatrices} order followed by the biases and q/k norms present, as a list. */
        List<Tensor> all() {
            List<Tensor> out = new ArrayList<>(List.of(attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown));
            for (Tensor t : new Tensor[]{bq, bk, bv, qNorm, kNorm}) if (t != null) out.add(t);
            return out;
        }
    }

    private final LlamaConfig config;
    private final Tensor embedding;
    private final List<Layer> layers;
    private final Tensor finalNorm;
    private final Tensor output;
    private final List<AutoCloseable> resources;

    /** Checks every shape against the config; an error names the tensor, the shape expected and the shape found. */
    public LlamaWeights(LlamaConfig config, Tensor embedding, List<Layer> layers, Tensor finalNorm, Tensor output,
                        List<? extends AutoCloseable> resources) {
        this.config = config;
        this.embedding = expect("embedding", embedding, config.vocabSize(), config.dim());
        if (layers.size() != config.layers())
            throw new IllegalArgumentException("llama weights: " + layers.size() + " layers for a config of " + config.layers());
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            String p = "layers." + i + ".";
            expect(p + "attn_norm", l.attnNorm(), config.dim());
            expect(p + "wq", l.wq(), config.qDim(), config.dim());
            expect(p + "wk", l.wk(), config.kvDim(), config.dim());
            expect(p + "wv", l.wv(), config.kvDim(), config.dim());
            expect(p + "wo", l.wo(), config.dim(), config.qDim());
            expect(p + "ffn_norm", l.ffnNorm(), config.dim());
            expect(p + "w_gate", l.wGate(), config.hiddenDim(), config.dim());
            expect(p + "w_up", l.wUp(), config.hiddenDim(), config.dim());
            expect(p + "w_down", l.wDown(), config.dim(), config.hiddenDim());
            boolean bias = config.architecture().qkvBias(), norm = config.architecture().qkNorm();
            optional(p + "bq", l.bq(), bias, config.qDim());
            optional(p + "bk", l.bk(), bias, config.kvDim());
            optional(p + "bv", l.bv(), bias, config.kvDim());
            optional(p + "q_norm", l.qNorm(), norm, config.headDim());
            optional(p + "k_norm", l.kNorm(), norm, config.headDim());
        }
        this.layers = List.copyOf(layers);
        this.finalNorm = expect("final_norm", finalNorm, config.dim());
        this.output = expect("output", output == null ? embedding : output, config.vocabSize(), config.dim());
        this.resources = new ArrayList<>(resources);
    }

    private static Tensor expect(String name, Tensor t, int... shape) {
        if (t == null) throw new IllegalArgumentException("llama weights: tensor " + name + " is missing");
        if (!Arrays.equals(t.shape(), shape))
            throw new IllegalArgumentException("llama weights: tensor " + name + " has shape " + Shape.str(t.shape())
                    + ", the config needs " + Shape.str(shape));
        return t;
    }

    /** A tensor the architecture has (then it must be there with that shape) or does not have (then it must be null). */
    private void optional(String name, Tensor t, boolean required, int... shape) {
        if (required) expect(name, t, shape);
        else if (t != null)
            throw new IllegalArgumentException("llama weights: tensor " + name + " is given, but a " + config.architecture()
                    + " block has none");
    }

    @Override public LlamaConfig config() { return config; }
    @Override public Tensor embedding() { return embedding; }
    public List<Layer> layers() { return layers; }
    @Override public Layer layer(int i) { return layers.get(i); }
    @Override public Tensor finalNorm() { return finalNorm; }
    /** The output head [vocab, dim]; the embedding itself when the config ties them. */
    @Override public Tensor output() { return output; }

    /**
     * Every tensor once, in a fixed order: embedding, per layer (attn norm, q, k, v, o, ffn norm, gate, up, down, then
     * the q/k/v biases or the q/k norms where the architecture has them), final norm, and the output head unless it is
     * the embedding.
     */
    public List<Tensor> tensors() {
        List<Tensor> out = new ArrayList<>();
        out.add(embedding);
        for (Layer l : layers) out.addAll(l.all());
        out.add(finalNorm);
        if (output != embedding) out.add(output);
        return out;
    }

    /**
     * The same model with every tensor passed through {@code f} once (a tied output head stays the embedding), e.g. a
     * device backend's {@code resident} to keep the weights in device memory. The result owns no resource: these
     * weights stay open as long as it is used.
     */
    public LlamaWeights map(java.util.function.UnaryOperator<Tensor> f) {
        List<Layer> mapped = new ArrayList<>();
        for (Layer l : layers)
            mapped.add(new Layer(f.apply(l.attnNorm()), f.apply(l.wq()), f.apply(l.wk()), f.apply(l.wv()), f.apply(l.wo()),
                    f.apply(l.ffnNorm()), f.apply(l.wGate()), f.apply(l.wUp()), f.apply(l.wDown()),
                    mapOrNull(f, l.bq()), mapOrNull(f, l.bk()), mapOrNull(f, l.bv()), mapOrNull(f, l.qNorm()), mapOrNull(f, l.kNorm())));
        Tensor emb = f.apply(embedding);
        return new LlamaWeights(config, emb, mapped, f.apply(finalNorm), output == embedding ? emb : f.apply(output), List.of());
    }

    /**
     * The same model with block {@code layer}'s tensors passed through {@code f} and every other tensor as it is (a
     * device backend's {@code resident} for the one block a method is training). Owns no resource, as {@link #map}.
     */
    public LlamaWeights mapLayer(int layer, java.util.function.UnaryOperator<Tensor> f) {
        java.util.Set<Tensor> block = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        block.addAll(layer(layer).all());
        return map(t -> block.contains(t) ? f.apply(t) : t);
    }

    private static Tensor mapOrNull(java.util.function.UnaryOperator<Tensor> f, Tensor t) { return t == null ? null : f.apply(t); }

    /** Names of {@link #tensors()} in the Hugging Face checkpoint convention (transformers' Llama/Qwen2/Qwen3ForCausalLM). */
    public List<String> hfNames() {
        List<String> out = new ArrayList<>();
        out.add("model.embed_tokens.weight");
        for (int i = 0; i < layers.size(); i++) {
            String p = "model.layers." + i + ".";
            out.addAll(List.of(p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                    p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight",
                    p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"));
            if (config.architecture().qkvBias())
                out.addAll(List.of(p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"));
            if (config.architecture().qkNorm()) out.addAll(List.of(p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"));
        }
        out.add("model.norm.weight");
        if (output != embedding) out.add("lm_head.weight");
        return out;
    }

    @Override public void close() {
        RuntimeException first = null;
        for (AutoCloseable r : resources) {
            try { r.close(); } catch (Exception e) {
                if (first == null) first = new IllegalStateException("closing llama weights", e);
            }
        }
        resources.clear();
        if (first != null) throw first;
    }
}
