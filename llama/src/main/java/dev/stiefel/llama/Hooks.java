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
}
