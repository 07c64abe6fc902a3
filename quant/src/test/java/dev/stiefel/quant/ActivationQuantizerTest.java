package dev.stiefel.quant;

import dev.stiefel.autograd.GradCheck;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.ActivationQuantizer.Gradient;
import dev.stiefel.quant.learn.FrozenSte;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The one activation quantizer: its values are the quant core's whatever the gradient choice (so what a method
 * learns on is what its model computes), its gradients are those of the function with rounding, clamping and
 * data-derived constants frozen (finite differences), and learnable clipping follows the core's rule on the shrunk range.
 */
class ActivationQuantizerTest {
    private final Random rnd = new Random(2);

    private static final List<QuantSpec> SPECS = List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(4, true, 0),
            QuantSpec.activations(3, false, 11), QuantSpec.activations(8, false, 0), QuantSpec.kv(4, false, 0), QuantSpec.activations(4, false, 0).withClipping(QuantSpec.Clipping.fixed(0.9)));

    /** The core's fake quantization of x in the rows {@link Quantizer#rows} gives, computed without any tape. */
    private static float[] core(QuantSpec spec, Tensor x) {
        Tensor rows = Quantizer.rows(Var.of(x), spec).value();
        return new Quantizer(spec).fakeQuant(rows, "x").toFloatArray();
    }

    @Test void valuesAreTheQuantCoresBitForBitOnAndOffTheTape() {
        for (QuantSpec spec : SPECS)
            for (int[] shape : List.of(new int[]{1, 33}, new int[]{7, 33}, new int[]{2, 3, 33}, new int[]{1, 5, 3, 11})) {
                Tensor x = Tensor.randn(rnd, shape).mul(2f).add(0.3f);
                float[] want = core(spec, x);
                for (Gradient g : Gradient.values()) {
                    ActivationQuantizer q = ActivationQuantizer.of(spec, g);
                    assertThat(q.quantize(x, "x").toFloatArray()).as("%s %s off the tape", spec, g).isEqualTo(want);
                    Var y = q.quantize(Var.param(x.copy()), Ste.STRAIGHT_THROUGH, "x");
                    assertThat(y.shape()).isEqualTo(shape);
                    assertThat(y.value().toFloatArray()).as("%s %s on the tape", spec, g).isEqualTo(want);
                }
            }
    }

    @Test void throughTheRangeTheGradientMatchesFiniteDifferencesOfTheFrozenFunction() {
        for (QuantSpec spec : List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(4, true, 0), QuantSpec.activations(3, false, 11))) {
            ActivationQuantizer q = ActivationQuantizer.of(spec, Gradient.THROUGH_RANGE);
            Function<Var[], Var> f = frozen(v -> q.quantize(v[0], stes[0], "x"));
            GradCheck.Result r = GradCheck.check(f, Tensor.randn(rnd, 3, 22).mul(2f));
            assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s: %s", spec, r).isTrue();
        }
    }

    @Test void withAConstantRangeTheGradientIsStraightThroughInsideTheGridAndZeroWhereClipped() {
        QuantSpec spec = QuantSpec.activations(4, false, 0).withClipping(QuantSpec.Clipping.fixed(0.8));
        Tensor x = Tensor.randn(rnd, 5, 33);
        Var p = Var.param(x.copy());
        Var y = ActivationQuantizer.of(spec, Gradient.CONSTANT_RANGE).quantize(p, Ste.STRAIGHT_THROUGH, "x");
        Tensor w = Tensor.randn(rnd, 5, 33);
        y.mul(Var.of(w)).sum().backward();
        QuantParams params = new Quantizer(spec).fit(x.toFloatArray(), 5, 33, "x");
        float[] g = p.grad().toFloatArray(), wv = w.toFloatArray(), xv = x.toFloatArray();
        int clipped = 0;
        for (int i = 0; i < g.length; i++) {
            int r = i / 33;
            float u = (float) Math.rint(xv[i] / params.scale()[r]) + params.zero()[r];
            boolean inside = u >= params.qmin() && u <= params.qmax();
            if (!inside) clipped++;
            assertThat(g[i]).as("element %d", i).isCloseTo(inside ? wv[i] : 0f, org.assertj.core.data.Offset.offset(1e-6f));
        }
        assertThat(clipped).as("a clip ratio of 0.8 clips each row's extremes").isGreaterThan(0);
    }

    @Test void learnableClippingFollowsTheCoresRuleOnTheShrunkRangeAndItsGradientReachesTheFactors() {
        for (QuantSpec spec : List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(2, false, 0), QuantSpec.activations(4, true, 0), QuantSpec.kv(3, false, 0))) {
            Tensor x = Tensor.randn(rnd, 1, 7, 3, 11).mul(1.5f);
            float cMax = 1.5f, cMin = 0.5f;
            ActivationQuantizer q = ActivationQuantizer.learnedClipping(spec, cMax, cMin);
            float[] got = q.quantize(x, "x").toFloatArray();
            // naive: rows as the spec takes them, each row's extremes times σ(c), the core's scale and zero point
            Tensor rows = Quantizer.rows(Var.of(x), spec).value();
            int n = rows.size(0), cols = rows.size(1);
            float[] xv = rows.toFloatArray();
            float rMax = (float) (1 / (1 + Math.exp(-cMax))), rMin = (float) (1 / (1 + Math.exp(-cMin)));
            Quantizer core = new Quantizer(spec);
            float[] sz = new float[2];
            for (int r = 0; r < n; r++) {
                float hi = 0, lo = 0;
                for (int j = 0; j < cols; j++) { hi = Math.max(hi, xv[r * cols + j]); lo = Math.min(lo, xv[r * cols + j]); }
                core.paramsFor(lo * rMin, hi * rMax, sz);
                for (int j = 0; j < cols; j++) {
                    float want = Quantizer.fakeQuant(xv[r * cols + j], sz[0], sz[1], spec.qmin(), spec.qmax());
                    // σ in f32 on the tape may differ from this one in the last ulp, which moves s by an ulp
                    assertThat(got[r * cols + j]).as("%s row %d col %d", spec, r, j).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-5f * Math.max(1, Math.abs(want))));
                }
            }
            // on the tape the same values; the learnable form from the same logits, and its frozen copy, too
            ActivationQuantizer learnable = ActivationQuantizer.learnableClipping(spec, true);
            learnable.parameters().get(0).value().copyFrom(Tensor.full(cMax, 1));
            learnable.parameters().get(1).value().copyFrom(Tensor.full(cMin, 1));
            Var y = learnable.quantize(Var.param(x.copy()), Ste.STRAIGHT_THROUGH, "x");
            assertThat(y.value().toFloatArray()).isEqualTo(got);
            assertThat(learnable.frozen().quantize(x, "x").toFloatArray()).isEqualTo(got);
            assertThat(learnable.logits()).containsExactly(cMax, cMin);
            // finite differences of the frozen function, in x and both logits
            Function<Var[], Var> f = frozen(v -> new ActivationQuantizer(spec, Gradient.THROUGH_RANGE, v[1], v[2]).quantize(v[0], stes[0], "x"));
            GradCheck.Result r = GradCheck.check(f, x, Tensor.full(cMax, 1), Tensor.full(cMin, 1));
            assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).as("%s: %s", spec, r).isTrue();
            assertThat(r.smallestGradient()).as("both factors reach the loss: %s", r).isGreaterThan(1e-4);
        }
    }

    @Test void refusesWhatItCannotDo() {
        assertThatThrownBy(() -> ActivationQuantizer.of(QuantSpec.activations(8, false, 0).withDynamic(false).withGranularity(QuantSpec.Granularity.PER_TENSOR), Gradient.CONSTANT_RANGE)).hasMessageContaining("static");
        assertThatThrownBy(() -> ActivationQuantizer.linearInput(QuantSpec.kv(4, false, 0).withGranularity(QuantSpec.Granularity.PER_HEAD), Gradient.CONSTANT_RANGE))
                .hasMessageContaining("per-head");
        assertThatThrownBy(() -> ActivationQuantizer.learnableClipping(QuantSpec.activations(4, false, 0).withClipping(QuantSpec.Clipping.fixed(0.9)), true)).hasMessageContaining("replaces the spec's clipping");
        assertThatThrownBy(() -> ActivationQuantizer.of(QuantSpec.activations(4, false, 0), Gradient.CONSTANT_RANGE).logits()).hasMessageContaining("no clipping factors");
    }

    // A FrozenSte per check, begun before each forward: the first run records, the perturbed ones replay.
    private final Ste[] stes = new Ste[1];

    private Function<Var[], Var> frozen(Function<Var[], Var> f) {
        FrozenSte ste = new FrozenSte();
        stes[0] = ste;
        return v -> {
            ste.begin();
            return f.apply(v);
        };
    }
}
