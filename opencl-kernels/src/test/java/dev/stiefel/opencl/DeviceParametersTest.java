package dev.stiefel.opencl;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.riemann.CayleySgd;
import dev.stiefel.riemann.RiemannianAdam;
import dev.stiefel.riemann.Stiefel;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Learnable parameters kept on the device ({@code resident}): the optimizers update them as they update heap ones (the
 * same values, step after step), and a step moves each one over once and back once.
 */
class DeviceParametersTest extends OnDevice {

    @BeforeEach void current() { Backends.use(cl); }

    /** Five steps of opt on p with the gradient of Σ (p ⊙ c)², the same c each time; p's values after each step. */
    static float[][] steps(Var p, Tensor c, Function<List<Var>, Optimizer> make) {
        Optimizer opt = make.apply(List.of(p));
        float[][] out = new float[5][];
        for (int s = 0; s < 5; s++) {
            opt.zeroGrad();
            p.mul(Var.of(c)).square().sum().backward();
            opt.step();
            out[s] = p.value().toFloatArray();
        }
        return out;
    }

    @Test void optimizersUpdateADeviceParameterAsAHeapOne() {
        Random rnd = new Random(4);
        for (int[] s : new int[][]{{33, 7}, {33, 33}}) {
            Tensor c = Tensor.randn(rnd, s[0], s[1]), start = Stiefel.random(s[0], s[1], rnd);
            List<Function<List<Var>, Optimizer>> optimizers = List.of(
                    ps -> Optimizer.adamW(ps, LrSchedule.constant(1e-2), 1e-3),
                    ps -> Optimizer.sgd(ps, LrSchedule.constant(1e-2), 0.9, 0),
                    ps -> new RiemannianAdam(ps, LrSchedule.constant(1e-2)),
                    ps -> new CayleySgd(ps, LrSchedule.constant(1e-2), 0.9));
            for (int o = 0; o < optimizers.size(); o++) {
                Var heap = Var.param(start.copy()), device = Var.param(cl.resident(start));
                assertThat(device.value().isOnDevice()).isTrue();
                float[][] h = steps(heap, c, optimizers.get(o)), d = steps(device, c, optimizers.get(o));
                for (int step = 0; step < h.length; step++) {
                    var that = assertThat(d[step]).as("optimizer %d, %dx%d, step %d", o, s[0], s[1], step + 1);
                    // Adam and SGD: the heap loop's bits. The Riemannian steps sum the gradient's square on the device (f32)
                    // and a square Cayley step there is matrix products, not the heap's f64 solve: f32 rounding apart.
                    if (o < 2) that.containsExactly(h[step]);
                    else that.containsExactly(h[step], org.assertj.core.data.Offset.offset(1e-6f));
                }
                assertThat(device.value().isOnDevice()).as("still on the device").isTrue();
            }
        }
    }

    /**
     * A Riemannian step on a square device parameter moves nothing parameter-sized: the point, its gradient and the first
     * moment stay on the device, and the Cayley step is matrix products there; only single values cross (step sizes up,
     * squared norms down as a few f64 partial sums). A tall one still takes its 2p×2p Woodbury solve on the heap: three
     * matrices down, two up.
     */
    @Test void aRiemannianStepMovesOnlySingleValues() {
        Random rnd = new Random(6);
        for (int[] s : new int[][]{{48, 48}, {48, 16}}) {
            int n = s[0], p = s[1];
            Tensor c = Tensor.randn(rnd, n, p);
            Var x = Var.param(cl.resident(Stiefel.random(n, p, rnd)));
            Optimizer opt = new RiemannianAdam(List.of(x), LrSchedule.constant(1e-2));
            Transfers moved = null;
            for (int step = 0; step < 3; step++) { // the first step also checks the start and sends the moment over
                opt.zeroGrad();
                x.mul(Var.of(c)).square().sum().backward();
                Transfers t0 = cl.transfers();
                opt.step();
                moved = cl.transfers().minus(t0);
            }
            long parameter = 4L * n * p;
            assertThat(moved.uploadBytes()).as("%s", moved).isEqualTo(n == p ? 4L * moved.uploads() : 2 * parameter + 4L * (moved.uploads() - 2));
            if (n == p) { // ‖R‖², ‖XᵀR‖² and ‖A‖², each as the f64 partial sums of its work-groups
                assertThat(moved.downloads()).as("%s", moved).isEqualTo(3);
                assertThat(moved.downloadBytes()).as("%s", moved).isLessThan(parameter);
            } else {      // the two norms, and X, U and the moment for the Woodbury solve
                assertThat(moved.downloads()).as("%s", moved).isEqualTo(5);
                assertThat(moved.downloadBytes() - 3 * parameter).as("%s", moved).isBetween(1L, parameter);
            }
        }
    }

    /**
     * Three steps of make's optimizer on a heap and a device parameter from start; the device optimizer's state (what a
     * checkpoint saves) must be the heap's within stateTolerance of its largest entry, and an optimizer resumed on the
     * device from it must take the heap's next step within valueTolerance (0: bit for bit). Returns the resumed point.
     */
    Tensor stateComesBackAndResumes(Function<List<Var>, Optimizer> make, Tensor start, Tensor c, float stateTolerance, float valueTolerance) {
        Var heap = Var.param(start.copy()), device = Var.param(cl.resident(start));
        Optimizer h = make.apply(List.of(heap)), d = make.apply(List.of(device));
        for (int s = 0; s < 3; s++)
            for (var pair : List.of(java.util.Map.entry(heap, h), java.util.Map.entry(device, d))) {
                pair.getValue().zeroGrad();
                pair.getKey().mul(Var.of(c)).square().sum().backward();
                pair.getValue().step();
            }
        List<float[]> hs = h.state(), ds = d.state();
        for (int i = 0; i < hs.size(); i++)
            assertThat(ds.get(i)).as("state %d", i).containsExactly(hs.get(i), org.assertj.core.data.Offset.offset(stateTolerance * max(hs.get(i))));
        assertThat(max(ds.get(0))).as("a moment, not zeros").isGreaterThan(0);
        Optimizer resumed = make.apply(List.of(device));
        List<float[]> rs = resumed.state();
        for (int i = 0; i < rs.size(); i++) System.arraycopy(ds.get(i), 0, rs.get(i), 0, rs.get(i).length);
        resumed.resumeAt(d.steps());
        for (var pair : List.of(java.util.Map.entry(heap, h), java.util.Map.entry(device, resumed))) {
            pair.getValue().zeroGrad();
            pair.getKey().mul(Var.of(c)).square().sum().backward();
            pair.getValue().step();
        }
        assertThat(device.value().toFloatArray()).containsExactly(heap.value().toFloatArray(), org.assertj.core.data.Offset.offset(valueTolerance));
        return device.value();
    }

    /** A Riemannian optimizer's state comes back from the device for a checkpoint, and a resumed run goes on from it. */
    @Test void riemannianStateComesBackFromTheDeviceAndResumes() {
        Random rnd = new Random(8);
        int n = 21;
        Tensor c = Tensor.randn(rnd, n, n), start = Stiefel.random(n, n, rnd);
        Function<List<Var>, Optimizer> make = ps -> new RiemannianAdam(ps, LrSchedule.constant(1e-2));
        Tensor resumed = stateComesBackAndResumes(make, start, c, 1e-5f, 1e-6f);
        // and the restored moment was used: a fresh optimizer's first step lands elsewhere
        Var fresh = Var.param(cl.resident(start));
        Optimizer f = make.apply(List.of(fresh));
        f.zeroGrad();
        fresh.mul(Var.of(c)).square().sum().backward();
        f.step();
        assertThat(fresh.value().maxAbsDiff(resumed)).isGreaterThan(1e-3);
    }

    private static float max(float[] a) {
        float m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** Adam updates a device parameter where it is: its moments go over once, then a step moves nothing. */
    @Test void anAdamStepMovesNothingOnceItsMomentsAreOnTheDevice() {
        Tensor start = Tensor.randn(new Random(5), 64, 32);
        Var p = Var.param(cl.resident(start));
        Optimizer opt = Optimizer.adamW(List.of(p), LrSchedule.constant(1e-2), 1e-3);
        Transfers[] moved = new Transfers[2];
        for (int s = 0; s < 2; s++) {
            opt.zeroGrad();
            p.square().sum().backward();
            Transfers t0 = cl.transfers();
            opt.step();
            moved[s] = cl.transfers().minus(t0);
        }
        assertThat(moved[0]).as("the first step: the two moments go over").isEqualTo(new Transfers(2, 2L * 4 * 64 * 32, 0, 0));
        assertThat(moved[1]).as("later steps").isEqualTo(new Transfers(0, 0, 0, 0));
    }

    /** The state a checkpoint saves comes back from the device: the heap optimizer's, and a resumed run goes on the same. */
    @Test void adamsStateComesBackFromTheDeviceAndResumes() {
        Random rnd = new Random(7);
        Tensor c = Tensor.randn(rnd, 17, 9), start = Tensor.randn(rnd, 17, 9);
        stateComesBackAndResumes(ps -> Optimizer.adam(ps, LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 1e-2), start, c, 0f, 0f);
    }
}
