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
public final class LlamaWeights implements AutoCloseable {

    /** One transformer block: the attention norm and projections, then the MLP norm and SwiGLU projections. */
    public record Layer(Tensor attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo,
                        Tensor ffnNorm, Tensor wGate, Tensor wUp, Tensor wDown) {}

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

    public LlamaConfig config() { return config; }
    public Tensor embedding() { return embedding; }
    public List<Layer> layers() { return layers; }
    public Layer layer(int i) { return layers.get(i); }
    public Tensor finalNorm() { return finalNorm; }
    /** The output head [vocab, dim]; the embedding itself when the config ties them. */
    public Tensor output() { return output; }

    /**
     * Every tensor once, in a fixed order: embedding, per layer (attn norm, q, k, v, o, ffn norm, gate, up, down),
     * final norm, and the output head unless it is the embedding.
     */
    public List<Tensor> tensors() {
        List<Tensor> out = new ArrayList<>();
        out.add(embedding);
        for (Layer l : layers) out.addAll(List.of(l.attnNorm(), l.wq(), l.wk(), l.wv(), l.wo(), l.ffnNorm(), l.wGate(), l.wUp(), l.wDown()));
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
                    f.apply(l.ffnNorm()), f.apply(l.wGate()), f.apply(l.wUp()), f.apply(l.wDown())));
        Tensor emb = f.apply(embedding);
        return new LlamaWeights(config, emb, mapped, f.apply(finalNorm), output == embedding ? emb : f.apply(output), List.of());
    }

    /** Names of {@link #tensors()} in the Hugging Face checkpoint convention. */
    public List<String> hfNames() {
        List<String> out = new ArrayList<>();
        out.add("model.embed_tokens.weight");
        for (int i = 0; i < layers.size(); i++) {
            String p = "model.layers." + i + ".";
            out.addAll(List.of(p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                    p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight",
                    p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"));
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
