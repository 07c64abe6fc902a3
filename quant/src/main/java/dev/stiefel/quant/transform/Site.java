package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;

/**
 * A hook point of the forward pass where an online transform acts on activations: the inputs of linear layers and
 * Q/K/V after RoPE. Rows are the last dim: features for the inputs, one head's features for Q/K/V.
 */
public enum Site {
    ATTN_IN, QUERY, KEY, VALUE, ATTN_OUT, MLP_IN, MLP_OUT, HEAD_IN;

    /** The site of a linear layer's input. */
    public static Site of(Input input) {
        return switch (input) {
            case ATTN_IN -> ATTN_IN;
            case ATTN_OUT -> ATTN_OUT;
            case MLP_IN -> MLP_IN;
            case MLP_OUT -> MLP_OUT;
            case HEAD_IN -> HEAD_IN;
        };
    }

    /** The site in layer {@code layer}, as errors and reports name it ({@code model.layers.3.mlp_in}; the head's input is {@code head_in}). */
    public String at(int layer) {
        String s = name().toLowerCase(java.util.Locale.ROOT);
        return this == HEAD_IN ? s : "model.layers." + layer + "." + s;
    }
}
