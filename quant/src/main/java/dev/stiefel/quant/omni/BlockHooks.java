package dev.stiefel.quant.omni;

import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.quant.Ste;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.autograd.Checkpoint;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.Linears;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The forward of one block while it is calibrated (the reference's {@code smooth_and_quant_temporary} followed by the
 * quantized layer's forward): each weight is transformed by LET's scales and then quantized (LWC or a fixed grid),
 * the RMSNorm outputs are divided by LET's scales, and the inputs of the linear layers and Q/K/V are fake-quantized
 * as the configuration says, all on the tape so that the loss reaches LWC's and LET's parameters. Other layers pass
 * through untouched. {@link #fold} writes the same weights into plain tensors.
 */
public final class BlockHooks implements Hooks {
    private final int layer;
    private final Let let;
    private final Map<Linear, WeightQuantizer> weights;
    private final ActivationQuantizer act, query, key, value;
    private Ste ste = Ste.STRAIGHT_THROUGH;
    private boolean recomputeWeights;

    /**
     * @param let     scales, or null for none
     * @param weights a quantizer per linear layer; a layer left out stays in full precision
     * @param act     linear inputs' quantizer, or null
     * @param query   Q's quantizer (after RoPE), or null
     * @param key     K's quantizer (after RoPE), or null
     * @param value   V's quantizer, or null
     */
    public BlockHooks(int layer, Let let, Map<Linear, WeightQuantizer> weights, ActivationQuantizer act,
                      ActivationQuantizer query, ActivationQuantizer key, ActivationQuantizer value) {
        this.layer = layer;
        this.let = let;
        this.weights = new EnumMap<>(Linear.class);
        this.weights.putAll(weights);
        this.act = act;
        this.query = query;
        this.key = key;
        this.value = value;
    }

    /** The same hooks with other rounding and clamping (gradient tests freeze them). */
    public BlockHooks with(Ste s) {
        BlockHooks h = new BlockHooks(layer, let, weights, act, query, key, value);
        h.ste = s;
        h.recomputeWeights = recomputeWeights;
        return h;
    }

    /**
     * The same hooks, recomputing each weight's quantization in backward ({@link Checkpoint}) when {@code on}: the tape
     * then keeps only the quantized weight, not the several weight-sized intermediates of the fake quantization (for a
     * LLaMA-2-7B block, gigabytes). The values and gradients are the same, since the clipping parameters are used
     * nowhere else.
     */
    public BlockHooks recomputingWeights(boolean on) {
        BlockHooks h = with(ste);
        h.recomputeWeights = on;
        return h;
    }

    /**
     * Whether a block should recompute its weight quantization in backward: when the tape of its fake quantization, about
     * four f32 copies of the block's linear weights, would take over an eighth of the heap (a 7B block: 3.2 GB), unless
     * the {@link dev.stiefel.quant.MemoryPolicy} in force decides.
     */
    public static boolean recomputesWeights(LlamaWeights weights, int layer) {
        long floats = 0;
        for (Linear which : Linears.BLOCK) floats += Linears.weight(weights, layer, which).numel();
        return dev.stiefel.quant.MemoryPolicy.current().checkpointWeightsOr(4 * floats * Float.BYTES > Runtime.getRuntime().maxMemory() / 8);
    }

    public Let let() { return let; }

    public WeightQuantizer weightQuantizer(Linear which) { return weights.get(which); }

    /** LWC's parameters (γ, β of every linear with learnable clipping). */
    public List<Var> lwcParameters() {
        List<Var> out = new ArrayList<>();
        for (WeightQuantizer q : weights.values()) out.addAll(q.parameters());
        return out;
    }

    /** LET's scales, or none. */
    public List<Var> letParameters() { return let == null ? List.of() : let.parameters(); }

    // ------------------------------------------------------------ the hook points

    @Override public Var weight(int l, Linear which, Var w) {
        if (l != layer) return w;
        Var t = let == null ? w : let.weight(which, w);
        WeightQuantizer q = weights.get(which);
        if (q == null) return t;
        if (!recomputeWeights || !Grad.enabled()) return q.quantize(t, ste);
        Ste s = ste;
        return Checkpoint.run(in -> q.quantize(in[0], s), q.parameters(), t);
    }

    @Override public Var bias(int l, Linear which, Var b) { return l != layer || let == null ? b : let.bias(which, b); }

    @Override public Var input(int l, Input where, Var x) {
        if (l != layer) return x;
        if (let != null) x = let.normOutput(where, x);
        return act == null ? x : act.quantize(x, ste, Linears.name(l, where));
    }

    @Override public Var query(int l, Var q) {
        return l != layer || query == null ? q : query.quantize(q, ste, "model.layers." + l + ".q");
    }

    @Override public Var key(int l, Var k) {
        return l != layer || key == null ? k : key.quantize(k, ste, "model.layers." + l + ".k_cache");
    }

    @Override public Var value(int l, Var v) {
        return l != layer || value == null ? v : value.quantize(v, ste, "model.layers." + l + ".v_cache");
    }

    // ------------------------------------------------------------ folding

    /**
     * The block's weights with the learned parameters folded in (the reference's {@code smooth_and_quant_inplace}):
     * RMSNorm gains divided by LET's scales, every linear transformed and then quantized to its final grid.
     */
    public LlamaWeights.Layer fold(LlamaWeights.Layer fp) {
        try (var off = Grad.off()) {
            Tensor attnNorm = let == null ? fp.attnNorm() : let.norm(Input.ATTN_IN, fp.attnNorm());
            Tensor ffnNorm = let == null ? fp.ffnNorm() : let.norm(Input.MLP_IN, fp.ffnNorm());
            // Qwen2's biases take the output scales of their layers; Qwen3's q/k norms are not touched
            return new LlamaWeights.Layer(attnNorm, fold(Linear.Q, fp.wq()), fold(Linear.K, fp.wk()), fold(Linear.V, fp.wv()),
                    fold(Linear.O, fp.wo()), ffnNorm, fold(Linear.GATE, fp.wGate()), fold(Linear.UP, fp.wUp()), fold(Linear.DOWN, fp.wDown()),
                    foldBias(Linear.Q, fp.bq()), foldBias(Linear.K, fp.bk()), foldBias(Linear.V, fp.bv()), fp.qNorm(), fp.kNorm());
        }
    }

    private Tensor foldBias(Linear which, Tensor b) {
        return b == null || let == null ? b : let.bias(which, Var.of(b)).value();
    }

    private Tensor fold(Linear which, Tensor w) {
        Tensor t = let == null ? w : let.weight(which, Var.of(w)).value();
        WeightQuantizer q = weights.get(which);
        return q == null ? t : q.fold(t);
    }
}
