package dev.stiefel.quant.flat;

import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.quant.Ste;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.quant.transform.OnlineHooks;
import dev.stiefel.quant.transform.Site;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Run-time hooks of a FlatQuant model: at every site the layer's online transforms, then its activation quantizer
 * with the learned clipping (the same code that trained it, parameters frozen). Weights are already folded and
 * quantized.
 */
public final class FlatRuntime implements Hooks {
    private final OnlineHooks online;
    private final List<Online> parts;
    private final List<Map<Site, ActivationQuantizer>> lac;

    /** @param lac per layer, the frozen quantizer of each site (absent sites stay in full precision) */
    public FlatRuntime(List<Online> online, List<Map<Site, ActivationQuantizer>> lac) {
        this.parts = List.copyOf(online);
        this.online = new OnlineHooks(Hooks.NONE, parts);
        this.lac = new ArrayList<>();
        for (Map<Site, ActivationQuantizer> m : lac) this.lac.add(m == null ? Map.of() : new EnumMap<>(m));
    }

    public List<Online> online() { return parts; }

    /** Per layer, the frozen quantizer of each site. */
    public List<Map<Site, ActivationQuantizer>> clipping() { return lac; }

    private Var quantize(int layer, Site site, Var x) {
        if (layer < 0 || layer >= lac.size()) return x;
        ActivationQuantizer q = lac.get(layer).get(site);
        return q == null ? x : q.quantize(x, Ste.STRAIGHT_THROUGH, site.at(layer));
    }

    @Override public Var input(int layer, Input where, Var x) { return quantize(layer, Site.of(where), online.input(layer, where, x)); }

    @Override public Var query(int layer, Var q) { return online.query(layer, q); }

    @Override public Var key(int layer, Var k) { return quantize(layer, Site.KEY, online.key(layer, k)); }

    @Override public Var value(int layer, Var v) { return quantize(layer, Site.VALUE, online.value(layer, v)); }

    @Override public String toString() { return "FlatRuntime[" + parts.size() + " online transforms]"; }
}
