package dev.stiefel.quant.transform;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Hooks that apply online transforms at their sites, after an inner hooks object. {@link dev.stiefel.quant.QuantHooks}
 * wraps these, so at each site the forward computes x → inner(x) → online(x) → Q(x): a rotation acts before the
 * quantizer, as QuaRot's online Hadamards do.
 */
public final class OnlineHooks implements Hooks {
    private final Hooks inner;
    private final Map<Site, List<Online>> bySite = new EnumMap<>(Site.class);

    public OnlineHooks(Hooks inner, List<Online> online) {
        this.inner = inner;
        for (Online o : online) bySite.computeIfAbsent(o.site(), s -> new ArrayList<>()).add(o);
    }

    /** Nothing before the online transforms. */
    public static Hooks of(List<Online> online) { return online.isEmpty() ? Hooks.NONE : new OnlineHooks(Hooks.NONE, online); }

    private Var at(Site site, int layer, Var x) {
        List<Online> list = bySite.get(site);
        if (list != null) for (Online o : list) x = o.apply(layer, x);
        return x;
    }

    @Override public Var weight(int layer, Linear which, Var w) { return inner.weight(layer, which, w); }

    @Override public Var bias(int layer, Linear which, Var b) { return inner.bias(layer, which, b); }

    @Override public Var input(int layer, Input where, Var x) { return at(Site.of(where), layer, inner.input(layer, where, x)); }

    @Override public Var query(int layer, Var q) { return at(Site.QUERY, layer, inner.query(layer, q)); }

    @Override public Var key(int layer, Var k) { return at(Site.KEY, layer, inner.key(layer, k)); }

    @Override public Var value(int layer, Var v) { return at(Site.VALUE, layer, inner.value(layer, v)); }

    @Override public String toString() { return "OnlineHooks" + bySite.keySet(); }
}
