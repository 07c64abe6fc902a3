package dev.stiefel.quant;

import dev.stiefel.autograd.Var;
import dev.stiefel.opencl.Transfers;
import dev.stiefel.quant.QuantSpec.Clipping;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The quantizers on tensors that live on the OpenCL device: the same values bit for bit as on the heap, while only
 * each group's extremes (to fit the scales) come over, not the tensor.
 */
class QuantizersOnOpenClTest extends OnOpenCl {
    final Random rnd = new Random(31);

    /** Gaussian values with a few large ones, so rows and groups have different ranges (and some are all positive). */
    Tensor values(int... shape) {
        Tensor t = Tensor.randn(rnd, shape);
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i += 29) v[i] *= 8;
        for (int i = 0; i < Math.min(96, v.length); i++) v[i] = Math.abs(v[i]);   // the first rows: no negative value
        return Tensor.wrap(v, shape);
    }

    static final List<QuantSpec> SPECS = List.of(
            QuantSpec.activations(4, false, 0), QuantSpec.activations(8, true, 0), QuantSpec.activations(4, false, 32),
            QuantSpec.activations(3, true, 48).withClipping(Clipping.fixed(0.9)), QuantSpec.activations(8, false, 0).withGranularity(Granularity.PER_TENSOR),
            QuantSpec.kv(4, false, 0), QuantSpec.kv(4, true, 0).withClipping(Clipping.fixed(0.95)));

    @Test void dynamicActivationsAndKvGiveTheHeapsValuesAndBringOverOnlyTheExtremes() {
        for (QuantSpec spec : SPECS)
            for (ActivationQuantizer.Gradient gradient : ActivationQuantizer.Gradient.values()) {
                ActivationQuantizer q = ActivationQuantizer.of(spec, gradient);
                Tensor x = spec.granularity() == Granularity.PER_HEAD ? values(2, 7, 4, 24) : values(2, 7, 96);
                Tensor host = q.quantize(x, "x"), dx = cl.resident(x);
                Transfers start = cl.transfers();
                Tensor device = q.quantize(dx, "x");
                Transfers moved = cl.transfers().minus(start);
                assertThat(device.isOnDevice()).isTrue();
                assertThat(device.toFloatArray()).as("%s, %s", spec, gradient).containsExactly(host.toFloatArray());
                // off the tape the groups' extremes come down in one read to be checked; the parameters are made there
                assertThat(moved.downloads()).as("%s: the groups' extremes in one read (%s)", spec, moved).isEqualTo(1);
                assertThat(moved.downloadBytes()).as("%s: the groups' extremes only (%s)", spec, moved).isLessThanOrEqualTo(2L * 4 * 14 * 4);
                assertThat(moved.uploads()).as("%s: no parameters go up (%s)", spec, moved).isZero();
            }
    }

    @Test void onTheTapeTheValuesAndTheGradientAreTheHeaps() {
        for (QuantSpec spec : List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(4, true, 32))) {
            ActivationQuantizer q = ActivationQuantizer.of(spec, ActivationQuantizer.Gradient.THROUGH_RANGE);
            Tensor x = values(9, 64), weight = Tensor.randn(rnd, 9, 64);
            Var hx = Var.param(x.copy()), dxv = Var.param(cl.resident(x));
            Var hy = q.quantize(hx, Ste.STRAIGHT_THROUGH, "x"), dy = q.quantize(dxv, Ste.STRAIGHT_THROUGH, "x");
            assertThat(dy.value().toFloatArray()).as("%s value", spec).containsExactly(hy.value().toFloatArray());
            hy.mul(Var.of(weight)).sum().backward();
            dy.mul(Var.of(cl.resident(weight))).sum().backward();
            float[] hg = hx.grad().toFloatArray(), dg = dxv.grad().toFloatArray();
            for (int i = 0; i < hg.length; i++) assertThat((double) dg[i]).as("%s gradient %d", spec, i).isCloseTo(hg[i], org.assertj.core.data.Offset.offset(1e-5));
        }
    }

    /** Rows whose groups are all zero, one-signed, tiny, huge, or mixed: the edges of paramsFor's rule. */
    Tensor edgeRows(int rows, int cols) {
        float[] v = values(rows, cols).toFloatArray();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                switch (r % 6) {
                    case 0 -> v[i] = 0f;                              // an all-zero row
                    case 1 -> v[i] = -Math.abs(v[i]);                 // no positive value
                    case 2 -> v[i] = v[i] * 1e-30f;                   // near the smallest scale
                    case 3 -> v[i] = v[i] * 1e30f;                    // huge
                    case 4 -> v[i] = c % 16 == 0 ? -0f : v[i];        // signed zeros among the values
                    default -> { }
                }
            }
        return Tensor.wrap(v, rows, cols);
    }

    @Test void theDeviceFitsTheHeapsScalesAndZeroPointsBitForBit() {
        for (QuantSpec base : List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(8, true, 0), QuantSpec.activations(2, false, 16),
                QuantSpec.activations(3, true, 32), QuantSpec.activations(6, false, 32).withClipping(Clipping.fixed(0.9)),
                QuantSpec.activations(8, false, 0).withGranularity(Granularity.PER_TENSOR), QuantSpec.activations(5, true, 0).withGranularity(Granularity.PER_TENSOR))) {
            Quantizer q = new Quantizer(base);
            Tensor x = edgeRows(12, 64);
            QuantParams heap = q.fit(x.toFloatArray(), 12, 64, "x");
            Tensor dx = cl.resident(x);
            Transfers start = cl.transfers();
            Tensor[] c = q.fitOnDevice(dx);
            assertThat(cl.transfers().minus(start)).as("%s: nothing moves", base).isEqualTo(new Transfers(0, 0, 0, 0));
            float[] s = c[0].toFloatArray(), z = c[1].toFloatArray();
            assertThat(s).hasSameSizeAs(heap.scale());
            for (int i = 0; i < s.length; i++) {
                assertThat(Float.floatToIntBits(s[i])).as("%s scale %d: %s vs %s", base, i, s[i], heap.scale()[i]).isEqualTo(Float.floatToIntBits(heap.scale()[i]));
                assertThat(Float.floatToIntBits(z[i])).as("%s zero %d: %s vs %s", base, i, z[i], heap.zero()[i]).isEqualTo(Float.floatToIntBits(heap.zero()[i]));
            }
        }
        assertThat(new Quantizer(QuantSpec.activations(4, false, 0).withClipping(Clipping.search())).fitOnDevice(cl.resident(values(3, 64))))
                .as("a clip search needs the values").isNull();
        assertThat(new Quantizer(QuantSpec.activations(4, false, 48)).fitOnDevice(cl.resident(values(3, 64)))).as("ragged groups").isNull();
    }

    /** On the tape the parameters are fitted on the device: the heap's values and gradient, and nothing comes down. */
    @Test void onTheTapeNothingComesDown() {
        for (QuantSpec spec : SPECS)
            for (ActivationQuantizer.Gradient gradient : ActivationQuantizer.Gradient.values()) {
                ActivationQuantizer q = ActivationQuantizer.of(spec, gradient);
                int[] shape = spec.granularity() == Granularity.PER_HEAD ? new int[]{2, 7, 4, 24} : new int[]{2, 7, 96};
                Tensor x = values(shape), weight = Tensor.randn(rnd, shape);
                Var hx = Var.param(x.copy());
                Var hy = q.quantize(hx, Ste.STRAIGHT_THROUGH, "x");
                hy.mul(Var.of(weight)).sum().backward();
                Var dxv = Var.param(cl.resident(x));
                Tensor dw = cl.resident(weight);
                Transfers start = cl.transfers();
                Var dy = q.quantize(dxv, Ste.STRAIGHT_THROUGH, "x");
                assertThat(cl.transfers().minus(start).downloads()).as("%s, %s", spec, gradient).isZero();
                assertThat(dy.value().toFloatArray()).as("%s, %s value", spec, gradient).containsExactly(hy.value().toFloatArray());
                dy.mul(Var.of(dw)).sum().backward();
                float[] hg = hx.grad().toFloatArray(), dg = dxv.grad().toFloatArray();
                for (int i = 0; i < hg.length; i++)
                    assertThat((double) dg[i]).as("%s, %s gradient %d", spec, gradient, i).isCloseTo(hg[i], org.assertj.core.data.Offset.offset(2.4e-7 * (1 + Math.abs(hg[i]))));
            }
    }

    /** Learned clipping (LAC) on the tape: the parameters its range gives are fitted on the device, the same as off the tape. */
    @Test void learnedClippingOnTheTapeFitsOnTheDevice() {
        for (QuantSpec spec : List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(4, true, 32), QuantSpec.activations(8, false, 0))) {
            ActivationQuantizer lac = ActivationQuantizer.learnableClipping(spec, true);
            Tensor x = cl.resident(edgeRows(12, 64));
            Tensor off = lac.quantize(x, "x"); // no tape: the heap fits the parameters from the range
            Var p = Var.param(x);
            Transfers start = cl.transfers();
            Var on = lac.quantize(p, Ste.STRAIGHT_THROUGH, "x");
            assertThat(cl.transfers().minus(start).downloads()).as("%s", spec).isZero();
            assertThat(on.value().toFloatArray()).as("%s", spec).containsExactly(off.toFloatArray());
        }
    }

    @Test void aValueThatIsNotFiniteIsNamedAsOnTheHeap() {
        Tensor x = values(3, 64);
        float[] v = x.toFloatArray();
        v[2 * 64 + 5] = Float.NaN;
        Tensor bad = Tensor.wrap(v, 3, 64);
        for (QuantSpec spec : List.of(QuantSpec.activations(4, false, 0), QuantSpec.activations(4, true, 32))) {
            ActivationQuantizer q = ActivationQuantizer.of(spec, ActivationQuantizer.Gradient.CONSTANT_RANGE);
            assertThatThrownBy(() -> q.quantize(cl.resident(bad), "model.layers.0.mlp.down_proj.input"))
                    .hasMessageContaining("model.layers.0.mlp.down_proj.input").hasMessageContaining("row 2, column 5");
            float[] inf = v.clone();
            inf[2 * 64 + 5] = Float.NEGATIVE_INFINITY;
            assertThatThrownBy(() -> q.quantize(cl.resident(Tensor.wrap(inf, 3, 64)), "x")).hasMessageContaining("row 2, column 5");
        }
        QuantParams p = new Quantizer(QuantSpec.activations(8, true, 0).withGranularity(Granularity.PER_TENSOR)).fitRange(-3, 3, 1, 64, "s");
        assertThatThrownBy(() -> Quantizer.fakeQuant(cl.resident(bad), p, "static site")).hasMessageContaining("static site").hasMessageContaining("row 2, column 5");
    }

    @Test void staticRangesAndWeightsGiveTheHeapsValues() {
        Tensor x = values(2, 11, 64);
        for (QuantSpec spec : List.of(QuantSpec.activations(8, true, 0), QuantSpec.activations(4, false, 0))) {
            QuantParams p = new Quantizer(spec.withGranularity(Granularity.PER_TENSOR)).fitRange(-2.5, 3.1, 1, 64, "s");
            Tensor dx = cl.resident(x);
            Transfers start = cl.transfers();
            Tensor device = Quantizer.fakeQuant(dx, p, "s");
            assertThat(cl.transfers().minus(start).downloadBytes()).as("static %s: the largest |x| only", spec).isEqualTo(4);
            assertThat(device.isOnDevice()).isTrue();
            assertThat(device.toFloatArray()).as("static %s", spec).containsExactly(Quantizer.fakeQuant(x, p, "s").toFloatArray());
        }
        // a weight quantized while a block learns (WeightQuantizer.fixed), per channel and grouped
        for (QuantSpec spec : List.of(QuantSpec.weights(4, false, 0), QuantSpec.weights(3, true, 32))) {
            Tensor w = values(33, 96);
            Quantizer quantizer = new Quantizer(spec);
            Var host = WeightQuantizer.fixed(quantizer, "w").quantize(Var.of(w), Ste.STRAIGHT_THROUGH);
            Transfers start = cl.transfers();
            Var device = WeightQuantizer.fixed(quantizer, "w").quantize(Var.of(cl.resident(w)), Ste.STRAIGHT_THROUGH);
            Transfers moved = cl.transfers().minus(start);
            assertThat(device.value().toFloatArray()).as("weight %s", spec).containsExactly(host.value().toFloatArray());
            assertThat(moved.downloadBytes()).as("weight %s: extremes only (%s)", spec, moved).isLessThan(4L * 33 * 96 / 4);
            // the quantizer's own fake quantization (RTN, or a weight of an evaluation pass), off and on the tape
            Tensor dw = cl.resident(w);
            start = cl.transfers();
            Tensor plain = quantizer.fakeQuant(dw, "w");
            moved = cl.transfers().minus(start);
            assertThat(plain.isOnDevice()).isTrue();
            assertThat(plain.toFloatArray()).as("fakeQuant %s", spec).containsExactly(quantizer.fakeQuant(w, "w").toFloatArray());
            assertThat(moved.downloadBytes() + moved.uploadBytes()).as("fakeQuant %s: no copy of the weight's size (%s)", spec, moved).isLessThan(4L * 33 * 96 / 4);
            Var hw = Var.param(w.copy()), dwv = Var.param(dw);
            Var hq = quantizer.fakeQuant(hw, "w"), dq = quantizer.fakeQuant(dwv, "w");
            assertThat(dq.value().toFloatArray()).as("on the tape %s", spec).containsExactly(hq.value().toFloatArray());
            hq.sum().backward();
            dq.sum().backward();
            assertThat(dwv.grad().toFloatArray()).as("straight-through gradient %s", spec).containsExactly(hw.grad().toFloatArray());
        }
    }
}
