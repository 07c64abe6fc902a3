package dev.stiefel.llama;

import dev.stiefel.autograd.Var;

/**
 * The points in the forward pass where quantization methods act. Each hook receives the value the reference
 * model computes at that line and returns what the rest of the pass should use: the identity by default, a
 * fake-quantized value, a transformed value, or a Var that depends on learnable parameters (so calibration can
 * train them through the frozen model). {@link LlamaModel#block} calls them at the lines they are named after.
 *
 * <p>Layer index -1 stands for the output head (after the final norm).
 */
public interface Hooks {

    /** The seven linear layers of a block and the output head. */
    enum Linear { Q, K, V, O, GATE, UP, DOWN, HEAD }

    /** Activations entering linear layers. Q/K/V share one input, as do GATE/UP. */
    enum Input {
        /** RMSNorm output feeding q_proj, k_proj and v_proj. */
        ATTN_IN,
        /** The concatenated attention heads feeding o_proj (the end of each head's V→O path). */
        ATTN_OUT,
        /** RMSNorm output feeding gate_proj and up_proj. */
        MLP_IN,
        /** silu(gate) ⊙ up, feeding down_proj. */
        MLP_OUT,
        /** The final norm's output feeding the head. */
        HEAD_IN
    }

    /** A linear layer's weight [out, in] as the matmul will use it. */
    default Var weight(int layer, Linear which, Var w) { return w; }

    /**
     * A linear layer's bias [out] as it is added to x·Wᵀ (only Qwen2's q/k/v projections have one). A method that
     * transforms a layer's output channels in {@link #weight} must transform the bias the same way here.
     */
    default Var bias(int layer, Linear which, Var b) { return b; }

    /** The activation entering a linear layer, shaped [..., in]. */
    default Var input(int layer, Input where, Var x) { return x; }

    /** Queries after RoPE, [B, T, heads, headDim]. */
    default Var query(int layer, Var q) { return q; }

    /** Keys after RoPE, [B, T, kvHeads, headDim]: what is written into the KV cache. */
    default Var key(int layer, Var k) { return k; }

    /** Values, [B, T, kvHeads, headDim]: what is written into the KV cache (the start of each head's V→O path). */
    default Var value(int layer, Var v) { return v; }

    /** The reference model: every hook is the identity. */
    Hooks NONE = new Hooks() {};

    /**
     * These hooks, then {@code next}, at every point: x → next(this(x)). A method's quantizers go after its
     * transforms this way ({@code rotation.then(quantizer)}), and a wrapper overrides only the points it changes.
     */
    default Hooks then(Hooks next) {
        if (next == NONE) return this;
        if (this == NONE) return next;
        return new Then(this, next);
    }

    /**
     * {@code first}, then {@code next}, at every point ({@link #then}): a record, so code that stores or describes a
     * model's hooks can see what they are made of.
     */
    record Then(Hooks first, Hooks next) implements Hooks {
        @Override public Var weight(int layer, Linear which, Var w) { return next.weight(layer, which, first.weight(layer, which, w)); }
        @Override public Var bias(int layer, Linear which, Var b) { return next.bias(layer, which, first.bias(layer, which, b)); }
        @Override public Var input(int layer, Input where, Var x) { return next.input(layer, where, first.input(layer, where, x)); }
        @Override public Var query(int layer, Var q) { return next.query(layer, first.query(layer, q)); }
        @Override public Var key(int layer, Var k) { return next.key(layer, first.key(layer, k)); }
        @Override public Var value(int layer, Var v) { return next.value(layer, first.value(layer, v)); }
        @Override public String toString() { return first + " then " + next; }
    }

    /** What an observer is shown: the value at a point, after the hooks before it. Nothing is changed. */
    interface Observer {
        default void input(int layer, Input where, Var x) {}

        default void query(int layer, Var q) {}

        default void key(int layer, Var k) {}

        default void value(int layer, Var v) {}
    }

    /**
     * Hooks that only look: every value passes through unchanged after {@code observer} has seen it. Statistics and
     * captures are {@code model.hooks().then(Hooks.observing(...))}, so they see exactly what the layers multiply.
     */
    static Hooks observing(Observer observer) {
        return new Hooks() {
            @Override public Var input(int layer, Input where, Var x) { observer.input(layer, where, x); return x; }
            @Override public Var query(int layer, Var q) { observer.query(layer, q); return q; }
            @Override public Var key(int layer, Var k) { observer.key(layer, k); return k; }
            @Override public Var value(int layer, Var v) { observer.value(layer, v); return v; }
        };
    }
}
