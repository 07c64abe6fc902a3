package dev.stiefel.quant.calib;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Block-wise calibration passes, as GPTQ runs them: the embeddings of every calibration sample are the inputs of
 * block 0; the inputs of the linear layers of block l are captured by running block l on its inputs; and block l's
 * outputs (computed with whatever weights the model holds by then, quantized ones included) are the inputs of
 * block l + 1. Everything runs without a tape, one sample at a time.
 */
public final class Capture {
    private Capture() {}

    /** The residual stream entering block 0 for each sample: embeddings [1, T, dim]. */
    public static List<Tensor> embed(LlamaModel model, CalibrationData data) {
        List<Tensor> out = new ArrayList<>(data.size());
        try (var _ = Grad.off()) {
            for (int i = 0; i < data.size(); i++) out.add(model.embed(data.ids(i)).value());
        }
        return out;
    }

    /** Block l's outputs for the inputs xs: the next block's inputs. */
    public static List<Tensor> runBlock(LlamaModel model, int layer, List<Tensor> xs) {
        List<Tensor> out = new ArrayList<>(xs.size());
        try (var _ = Grad.off()) {
            for (Tensor x : xs) out.add(model.block(layer, Var.of(x), 0, null).value());
        }
        return out;
    }

    /**
     * Runs block l on each input and hands {@code sink} the activation entering the linear layers at each requested
     * site (after the model's own hooks, i.e. exactly what the linear layer multiplies), as [tokens, features].
     * The block stops right after the last requested site in forward order, as GPTQ's Catcher does, since nothing
     * after it is needed.
     */
    public static void inputs(LlamaModel model, int layer, List<Tensor> xs, Set<Hooks.Input> sites, BiConsumer<Hooks.Input, Tensor> sink) {
        if (sites.isEmpty()) return;
        if (sites.contains(Hooks.Input.HEAD_IN)) throw new IllegalArgumentException("capture: the head's input is not inside a block");
        Hooks.Input last = EnumSet.copyOf(sites).stream().max(Enum::compareTo).orElseThrow();
        Hooks inner = model.hooks();
        Hooks catcher = new Hooks() {
            @Override public Var weight(int l, Linear which, Var w) { return inner.weight(l, which, w); }
            @Override public Var bias(int l, Linear which, Var b) { return inner.bias(l, which, b); }
            @Override public Var input(int l, Input where, Var x) {
                Var y = inner.input(l, where, x);
                if (l == layer && sites.contains(where)) {
                    int[] s = y.shape();
                    sink.accept(where, y.value().reshape(-1, s[s.length - 1]));
                    if (where == last) throw Stop.INSTANCE;
                }
                return y;
            }
            @Override public Var query(int l, Var q) { return inner.query(l, q); }
            @Override public Var key(int l, Var k) { return inner.key(l, k); }
            @Override public Var value(int l, Var v) { return inner.value(l, v); }
        };
        LlamaModel catching = model.withHooks(catcher);
        try (var _ = Grad.off()) {
            for (Tensor x : xs) {
                try {
                    catching.block(layer, Var.of(x), 0, null);
                } catch (Stop stop) {
                    // the rest of the block is not needed
                }
            }
        }
    }

    /** Unwinds a block once its last needed input has been captured; carries no stack trace. */
    private static final class Stop extends RuntimeException {
        static final Stop INSTANCE = new Stop();

        private Stop() { super(null, null, false, false); }
    }
}
