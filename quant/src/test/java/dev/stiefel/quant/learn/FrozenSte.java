package dev.stiefel.quant.learn;

import dev.stiefel.quant.Ste;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The function whose gradient the straight-through estimator computes, made explicit: on the first forward every
 * rounding offset round(u) − u, every clamp decision and every data-derived constant is recorded; on every later
 * forward they are replayed in the same order, so rounding becomes u + (frozen offset), clamping becomes a fixed mask
 * and constants stay put. That function is smooth, so finite differences of it can check the
 * tape's gradient through a whole quantized block. Call {@link #begin} before each forward.
 */
public final class FrozenSte implements Ste {
    private final List<Tensor[]> recorded = new ArrayList<>();
    private boolean recording = true, started;
    private int next;

    public void begin() {
        if (started) recording = false;
        started = true;
        next = 0;
    }

    private Tensor[] slot(Tensor... values) {
        if (recording) {
            recorded.add(values);
            return values;
        }
        if (next >= recorded.size()) throw new IllegalStateException("frozen ste: more steps than on the first forward");
        return recorded.get(next++);
    }

    @Override public Var round(Var u) {
        Tensor offset = slot(u.value().round().sub(u.value()))[0];
        return u.add(Var.of(offset));
    }

    @Override public Var clamp(Var v, float lo, float hi) {
        Tensor x = v.value();
        Tensor[] s = slot(x.ge(lo).mul(x.le(hi)), null);
        Tensor inside = s[0];
        if (recording) s[1] = x.clamp(lo, hi).mul(inside.neg().add(1f));   // the bound where clipped, 0 elsewhere
        return v.mul(Var.of(inside)).add(Var.of(s[1]));
    }

    @Override public Tensor constant(Tensor t) { return slot(t)[0]; }

    @Override public Var max(Var x) { return x.gather(-1, slot(x.value().argmax(-1, true))[0]); }

    @Override public Var min(Var x) { return x.gather(-1, slot(x.value().argmin(-1, true))[0]); }
}
