package dev.stiefel.quant.omni;

import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.quant.learn.Lwc;
import dev.stiefel.quant.learn.FrozenSte;
import dev.stiefel.quant.Ste;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.autograd.GradCheck;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * LWC's and LET's gradients through a whole quantized block (W4A4, Q/K/V at 4 bits, weight groups of 4, grouped-query
 * attention, interleaved RoPE): the tape's gradients against finite differences (autograd's {@link GradCheck}) of the
 * block in which rounding offsets, clamp decisions and data-derived scales are frozen ({@link FrozenSte}), which is
 * the function whose gradient the straight-through estimator defines.
 */
class BlockGradientTest {
    private final LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 7, Rope.Layout.HALF, false).withRopeLayout(Rope.Layout.INTERLEAVED);
    private final LlamaWeights w = RandomModels.random(c, 41);
    private final Tensor x = Tensor.randn(new Random(42), 1, 5, c.dim());
    private final QuantSpec weights = QuantSpec.weights(4, false, 4);
    private final ActivationQuantizer act = ActivationQuantizer.linearInput(QuantSpec.activations(4, false, 0), ActivationQuantizer.Gradient.THROUGH_RANGE);
    private final ActivationQuantizer heads = ActivationQuantizer.of(QuantSpec.kv(4, false, 0), ActivationQuantizer.Gradient.THROUGH_RANGE);

    /** LET's four scales, then γ, β of each linear in block order. */
    private Tensor[] parameters() {
        Random rnd = new Random(43);
        List<Tensor> p = new ArrayList<>(List.of(Tensor.uniform(rnd, 0.5f, 2f, c.dim()), Tensor.uniform(rnd, 0.5f, 2f, c.dim()),
                Tensor.uniform(rnd, 0.5f, 2f, c.kvDim()), Tensor.uniform(rnd, 0.5f, 2f, c.kvHeads() * c.headDim() / 2)));
        for (Linear which : Linears.BLOCK) {
            Tensor t = Linears.weight(w, 0, which);
            int n = t.size(0) * (t.size(1) / 4);
            p.add(Tensor.uniform(rnd, 2.5f, 5f, n, 1));
            p.add(Tensor.uniform(rnd, 2.5f, 5f, n, 1));
        }
        return p.toArray(Tensor[]::new);
    }

    private Function<Var[], Var> block(Ste ste) {
        return v -> {
            if (ste instanceof FrozenSte f) f.begin();
            Let let = new Let(c, v[0], v[1], v[2], v[3]);
            Map<Linear, WeightQuantizer> wq = new EnumMap<>(Linear.class);
            int i = 4;
            for (Linear which : Linears.BLOCK) {
                Tensor t = Linears.weight(w, 0, which);
                wq.put(which, new Lwc(weights, t.size(0), t.size(1), List.of(v[i], v[i + 1])));
                i += 2;
            }
            BlockHooks hooks = new BlockHooks(0, let, wq, act, heads, heads, heads).with(ste);
            return new LlamaModel(w, hooks).block(0, Var.of(x), 0, null);
        };
    }

    @Test void lwcAndLetGradientsThroughAQuantizedBlockMatchFiniteDifferencesOfTheFrozenBlock() {
        GradCheck.Result r = GradCheck.check(block(new FrozenSte()), parameters());
        assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s", r).isTrue();
        assertThat(r.smallestGradient()).as("every LET scale vector and every γ/β reaches the loss; %s", r).isGreaterThan(1e-4);
    }

    /** The frozen block is only a device for the check: at the base point its value and gradients are the training forward's. */
    @Test void theFrozenBlockHasTheStraightThroughBlocksValueAndGradients() {
        Tensor[] p = parameters();
        Var[] a = new Var[p.length], b = new Var[p.length];
        for (int i = 0; i < p.length; i++) {
            a[i] = Var.param(p[i].copy());
            b[i] = Var.param(p[i].copy());
        }
        Var ya = block(Ste.STRAIGHT_THROUGH).apply(a), yb = block(new FrozenSte()).apply(b);
        assertThat(ya.value().maxAbsDiff(yb.value())).isLessThan(1e-5);
        Tensor probe = Tensor.randn(new Random(44), ya.shape());
        ya.mul(Var.of(probe)).sum().backward();
        yb.mul(Var.of(probe)).sum().backward();
        for (int i = 0; i < p.length; i++) {
            double scale = Math.max(1e-6, a[i].grad().abs().max().item());
            assertThat(a[i].grad().maxAbsDiff(b[i].grad()) / scale).as("parameter %d", i).isLessThan(1e-4);
        }
    }
}
