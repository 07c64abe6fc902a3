package dev.stiefel.quant.omni;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;

/**
 * Inference hooks of an OmniQuant model: everything {@code inner} does (the quant core's {@code QuantHooks}: linear
 * inputs, K and V) plus the queries after RoPE, which the reference also quantizes at W4A4 and W6A6
 * ({@code qkt_matmul.quant_x1}, per token and head with the activations' bit width).
 */
public final class QueryQuantHooks implements Hooks {
    private final Hooks inner;
    private final ActivationQuantizer query;

    public QueryQuantHooks(Hooks inner, ActivationQuantizer query) {
        this.inner = inner;
        this.query = query;
    }

    @Override public Var weight(int l, Linear which, Var w) { return inner.weight(l, which, w); }

    @Override public Var bias(int l, Linear which, Var b) { return inner.bias(l, which, b); }

    @Override public Var input(int l, Input where, Var x) { return inner.input(l, where, x); }

    @Override public Var query(int l, Var q) {
        return query.quantize(inner.query(l, q), Ste.STRAIGHT_THROUGH, "model.layers." + l + ".q");
    }

    @Override public Var key(int l, Var k) { return inner.key(l, k); }

    @Override public Var value(int l, Var v) { return inner.value(l, v); }

    @Override public String toString() { return inner + " + Q " + query.spec(); }
}
