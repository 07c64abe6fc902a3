package dev.stiefel.quant;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/** Names and lookups for the linear layers of a LLaMA model, shared by every method. */
public final class Linears {
    private Linears() {}

    /** The seven linear layers of a block, in forward order. */
    public static final List<Linear> BLOCK = List.of(Linear.Q, Linear.K, Linear.V, Linear.O, Linear.GATE, Linear.UP, Linear.DOWN);

    /** The weight [out, in] of a linear layer; layer -1 / HEAD is the output head. */
    public static Tensor weight(LlamaWeights w, int layer, Linear which) {
        return which == Linear.HEAD ? w.output() : weight(w.layer(layer), which);
    }

    /** The weight [out, in] of one of a block's linear layers. */
    public static Tensor weight(LlamaWeights.Layer l, Linear which) {
        return switch (which) {
            case Q -> l.wq();
            case K -> l.wk();
            case V -> l.wv();
            case O -> l.wo();
            case GATE -> l.wGate();
            case UP -> l.wUp();
            case DOWN -> l.wDown();
            case HEAD -> throw new IllegalArgumentException("the head is not a block's linear layer");
        };
    }

    /** The activation a linear layer reads (Q/K/V share one, as do GATE/UP). */
    public static Input inputOf(Linear which) {
        return switch (which) {
            case Q, K, V -> Input.ATTN_IN;
            case O -> Input.ATTN_OUT;
            case GATE, UP -> Input.MLP_IN;
            case DOWN -> Input.MLP_OUT;
            case HEAD -> Input.HEAD_IN;
        };
    }

    /** The Hugging Face module name, e.g. {@code model.layers.3.self_attn.q_proj} or {@code lm_head}. */
    public static String name(int layer, Linear which) {
        String p = "model.layers." + layer + ".";
        return switch (which) {
            case Q -> p + "self_attn.q_proj";
            case K -> p + "self_attn.k_proj";
            case V -> p + "self_attn.v_proj";
            case O -> p + "self_attn.o_proj";
            case GATE -> p + "mlp.gate_proj";
            case UP -> p + "mlp.up_proj";
            case DOWN -> p + "mlp.down_proj";
            case HEAD -> "lm_head";
        };
    }

    /** A name for an activation site, e.g. {@code model.layers.3.attn_in} or {@code head_in}. */
    public static String name(int layer, Input where) {
        return where == Input.HEAD_IN ? "head_in" : "model.layers." + layer + "." + where.name().toLowerCase(java.util.Locale.ROOT);
    }
}
