package dev.stiefel.opencl;

import dev.stiefel.autograd.FakeQuant;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Fake quantization with the straight-through estimator as the device runs it, one kernel each way
 * ({@code quant.cl}): the values and gradients of the six composed ops on the same device bit for bit, the CPU's
 * values and input gradients bit for bit, its scale and zero-point gradients within 2 ulps (f64 row sums in another
 * order; on PoCL they come out equal).
 */
class FakeQuantOnOpenClTest extends OnDevice {

    /** y, dx, ds, dz of Σ w ⊙ quantize(x, s, z) on the current backend, quantize being {@code fq}. */
    record Result(float[] y, float[] dx, float[] ds, float[] dz) {}

    interface Quantize { Var apply(Var x, Var s, Var z, int qmin, int qmax); }

    static final Quantize FUSED = FakeQuant::quantize;
    /** The composition FakeQuant spells out, op by op. */
    static final Quantize COMPOSED = (x, s, z, qmin, qmax) -> x.div(s).roundSte().add(z).clamp(qmin, qmax).sub(z).mul(s);

    static Result run(Quantize fq, Function<Tensor, Tensor> place, Tensor x, Tensor s, Tensor z, Tensor w, int qmin, int qmax) {
        Var px = Var.param(place.apply(x)), ps = Var.param(place.apply(s)), pz = Var.param(place.apply(z));
        Var y = fq.apply(px, ps, pz, qmin, qmax);
        y.mul(Var.of(place.apply(w))).sum().backward();
        return new Result(y.value().toFloatArray(), px.grad().toFloatArray(), ps.grad().toFloatArray(), pz.grad().toFloatArray());
    }

    static void assertSameBits(float[] got, float[] want, String what) {
        assertThat(got).as(what).hasSameSizeAs(want);
        for (int i = 0; i < want.length; i++)
            assertThat(Float.floatToIntBits(got[i]) == Float.floatToIntBits(want[i])).as("%s, element %d: %s vs %s", what, i, got[i], want[i]).isTrue();
    }

    @Test void oneKernelEachWayWithTheComposedOpsBitsAndTheCpusValues() {
        Random rnd = new Random(11);
        int[][] grids = {{0, 15}, {-8, 7}, {-128, 127}, {0, 3}};
        for (int[] shape : new int[][]{{1, 1}, {7, 33}, {33, 257}, {257, 7}, {3, 1}, {1, 300}})
            for (int[] grid : grids) {
                int n = shape[0], m = shape[1], qmin = grid[0], qmax = grid[1];
                Tensor x = Tensor.randn(rnd, n, m).mul(3f), w = Tensor.randn(rnd, n, m);
                float[] sv = new float[n], zv = new float[n];
                for (int r = 0; r < n; r++) { // ranges that clip some elements at both ends
                    sv[r] = (float) (0.05 + rnd.nextDouble() * 4.0 / (qmax - qmin));
                    zv[r] = qmin < 0 ? 0 : (float) Math.rint((qmin + qmax) / 2.0 + rnd.nextGaussian());
                }
                Tensor s = Tensor.of(sv, n, 1), z = Tensor.of(zv, n, 1);
                String what = Arrays.toString(shape) + " on [" + qmin + ", " + qmax + "]";

                Backends.use(CpuBackend.INSTANCE);
                Result cpu = run(FUSED, t -> t, x, s, z, w, qmin, qmax);
                Backends.use(cl);
                Result composed = run(COMPOSED, cl::resident, x, s, z, w, qmin, qmax);
                Tensor dx = cl.resident(x), ds = cl.resident(s), dz = cl.resident(z);
                Map<String, Long> before = cl.launches();
                Var y = FakeQuant.quantize(Var.param(dx), Var.param(ds), Var.param(dz), qmin, qmax);
                assertThat(launchedSince(before)).as(what + ": the forward").isEqualTo(Map.of("fake_quant", 1L));
                assertThat(y.value().isOnDevice()).isTrue();
                Result fused = run(FUSED, cl::resident, x, s, z, w, qmin, qmax);

                assertSameBits(fused.y(), composed.y(), what + ": y against the composed device ops");
                assertSameBits(fused.dx(), composed.dx(), what + ": dx against the composed device ops");
                assertSameBits(fused.ds(), composed.ds(), what + ": ds against the composed device ops");
                assertSameBits(fused.dz(), composed.dz(), what + ": dz against the composed device ops");
                assertSameBits(fused.y(), cpu.y(), what + ": y against the CPU");
                assertSameBits(fused.dx(), cpu.dx(), what + ": dx against the CPU");
                for (int r = 0; r < n; r++) {
                    assertThat((double) fused.ds()[r]).as("%s: ds row %d", what, r).isCloseTo(cpu.ds()[r], org.assertj.core.data.Offset.offset(2.4e-7 * (1 + Math.abs(cpu.ds()[r]))));
                    assertThat((double) fused.dz()[r]).as("%s: dz row %d", what, r).isCloseTo(cpu.dz()[r], org.assertj.core.data.Offset.offset(2.4e-7 * (1 + Math.abs(cpu.dz()[r]))));
                }
            }
    }

    @Test void theBackwardIsOneKernel() {
        Random rnd = new Random(12);
        Backends.use(cl);
        Tensor x = cl.resident(Tensor.randn(rnd, 9, 40)), s = cl.resident(Tensor.full(0.25f, 9, 1)), z = cl.resident(Tensor.full(8f, 9, 1));
        Var px = Var.param(x), ps = Var.param(s), pz = Var.param(z);
        Var y = FakeQuant.quantize(px, ps, pz, 0, 15);
        Map<String, Long> before = cl.launches();
        y.backward(cl.resident(Tensor.randn(rnd, 9, 40)));
        assertThat(launchedSince(before)).isEqualTo(Map.of("fake_quant_backward", 1L));
        assertThat(px.grad().isOnDevice() && ps.grad().isOnDevice() && pz.grad().isOnDevice()).isTrue();
    }

    @Test void otherLayoutsAreComposed() {
        Backends.use(cl);
        Tensor x = cl.resident(Tensor.randn(new Random(13), 4, 6));
        assertThat(cl.fakeQuant(x, Tensor.full(0.5f, 1, 6), Tensor.zeros(1, 6), -8, 7)).as("a scale per column").isNull();
        assertThat(cl.fakeQuant(x.reshape(2, 2, 6), Tensor.full(0.5f, 2, 1), Tensor.zeros(2, 1), -8, 7)).as("three axes").isNull();
        assertThat(CpuBackend.INSTANCE.fakeQuant(x.toHost(), Tensor.full(0.5f, 4, 1), Tensor.zeros(4, 1), -8, 7)).as("the CPU composes").isNull();
    }

    private Map<String, Long> launchedSince(Map<String, Long> before) {
        Map<String, Long> d = new java.util.TreeMap<>();
        cl.launches().forEach((k, v) -> { long c = v - before.getOrDefault(k, 0L); if (c > 0) d.put(k, c); });
        return d;
    }
}
