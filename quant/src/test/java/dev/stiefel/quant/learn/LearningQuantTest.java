package dev.stiefel.quant.learn;

import dev.stiefel.quant.learn.LearningQuant;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class LearningQuantTest {
    private final Random rnd = new Random(2);

    @Test void forwardIsTheQuantizersAndTheGradientReachesTheRowRange() {
        for (QuantSpec spec : List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(4, true, 0), QuantSpec.activations(3, false, 11),
                QuantSpec.weights(4, false, 0))) {
            for (int[] shape : List.of(new int[]{1, 33}, new int[]{7, 33}, new int[]{2, 3, 33})) {
                Tensor x = Tensor.randn(rnd, shape).mul(2f).add(0.3f);
                Var p = Var.param(x);
                Var y = LearningQuant.fakeQuant(p, spec);
                float[] a = y.value().toFloatArray(), b = new Quantizer(spec).fakeQuant(x, "x").toFloatArray();
                int differ = 0;
                double step = 4.0 * 6 / ((1 << spec.bits()) - 1);
                for (int i = 0; i < a.length; i++) {
                    if (Math.abs(a[i] - b[i]) > 1e-5 * Math.max(1, Math.abs(b[i]))) differ++; // more than the scale's last-ulp rounding: a level flipped
                    assertThat((double) Math.abs(a[i] - b[i])).as("%s element %d", spec, i).isLessThanOrEqualTo(step);
                }
                // the scale in f32 (here) vs f64 (Quantizer) differs in the last ulp; that may flip an element on a rounding boundary, nothing more
                assertThat(differ).as("%s", spec).isLessThanOrEqualTo(Math.max(1, a.length / 50));
                // d Σ y·w / dx: straight-through (w) everywhere except at each row's max/min, where the scale's gradient adds
                Tensor w = Tensor.randn(rnd, shape);
                y.mul(Var.of(w)).sum().backward();
                float[] g = p.grad().toFloatArray(), wv = w.toFloatArray();
                int notStraight = 0;
                for (int i = 0; i < g.length; i++) if (Math.abs(g[i] - wv[i]) > 1e-4) notStraight++;
                assertThat(notStraight).as("%s", spec).isGreaterThan(0).isLessThanOrEqualTo(2 * g.length / Math.min(shape[shape.length - 1], spec.groupSize() > 0 ? spec.groupSize() : 33) + 2);
            }
        }
    }
}
