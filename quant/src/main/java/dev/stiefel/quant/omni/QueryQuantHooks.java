package dev.stiefel.quant.omni;

import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.quant.Ste;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;

/**
 * The queries after RoPE, quantized as OmniQuant's reference does at W4A4 and W6A6 ({@code qkt_matmul.quant_x1}, per
 * token and head with the activations' bit width). An OmniQuant model runs {@code QuantHooks.of(config).then(this)}:
 * everything else (linear inputs, K and V) is the quant core's.
 */
public record QueryQuantHooks(ActivationQuantizer query) implements Hooks {

    @Override public Var query(int l, Var q) { return query.quantize(q, Ste.STRAIGHT_THROUGH, "model.layers." + l + ".q"); }

    @Override public String toString() { return "Q " + query.spec(); }
}
