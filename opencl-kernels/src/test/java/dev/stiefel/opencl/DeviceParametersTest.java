package dev.stiefel.opencl;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
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
        Tensor c = Tensor.randn(rnd, 33, 7), start = Stiefel.random(33, 7, rnd);
        List<Function<List<Var>, Optimizer>> optimizers = List.of(
                ps -> Optimizer.adamW(ps, LrSchedule.constant(1e-2), 1e-3),
                ps -> Optimizer.sgd(ps, LrSchedule.constant(1e-2), 0.9, 0),
                ps -> new RiemannianAdam(ps, LrSchedule.constant(1e-2)));
        for (Function<List<Var>, Optimizer> make : optimizers) {
            Var heap = Var.param(start.copy()), device = Var.param(cl.resident(start));
            assertThat(device.value().isOnDevice()).isTrue();
            float[][] h = steps(heap, c, make), d = steps(device, c, make);
            for (int s = 0; s < h.length; s++) assertThat(d[s]).as("step %d", s + 1).containsExactly(h[s]);
            assertThat(device.value().isOnDevice()).as("still on the device").isTrue();
        }
    }

    /** A Riemannian step reads the device parameter and its gradient where they are; its moment goes over once. */
    @Test void aRiemannianStepUploadsOnlyWhatTheHeapHolds() {
        Random rnd = new Random(6);
        int n = 48, p = 16;
        Tensor c = Tensor.randn(rnd, n, p);
        Var x = Var.param(cl.resident(Stiefel.random(n, p, rnd)));
        Optimizer opt = new RiemannianAdam(List.of(x), LrSchedule.constant(1e-2));
        Transfers moved = null;
        for (int s = 0; s < 2; s++) { // the first step also checks that the start is on the manifold
            opt.zeroGrad();
            x.mul(Var.of(c)).square().sum().backward();
            Transfers t0 = cl.transfers();
            opt.step();
            moved = cl.transfers().minus(t0);
        }
        // the point and gradient are read where they are; the first moment goes over for the step's ops, and the new
        // point, which the Cayley retraction computes in f64 on the heap, comes back (7 when every op uploaded its heap
        // operands, 4 with the operands uploaded once a step)
        assertThat(moved.uploadBytes()).as("%s", moved).isEqualTo(2L * 4 * n * p);
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
        Var heap = Var.param(start.copy()), device = Var.param(cl.resident(start));
        Optimizer h = Optimizer.adam(List.of(heap), LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 1e-2), d = Optimizer.adam(List.of(device), LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 1e-2);
        for (int s = 0; s < 3; s++)
            for (var pair : List.of(java.util.Map.entry(heap, h), java.util.Map.entry(device, d))) {
                pair.getValue().zeroGrad();
                pair.getKey().mul(Var.of(c)).square().sum().backward();
                pair.getValue().step();
            }
        List<float[]> hs = h.state(), ds = d.state();
        for (int i = 0; i < hs.size(); i++) assertThat(ds.get(i)).as("state %d", i).containsExactly(hs.get(i));
        // resume on the device from the saved state: the same values as the heap optimizer going on
        Optimizer resumed = Optimizer.adam(List.of(device), LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 1e-2);
        List<float[]> rs = resumed.state();
        for (int i = 0; i < rs.size(); i++) System.arraycopy(ds.get(i), 0, rs.get(i), 0, rs.get(i).length);
        resumed.resumeAt(d.steps());
        for (var pair : List.of(java.util.Map.entry(heap, h), java.util.Map.entry(device, resumed))) {
            pair.getValue().zeroGrad();
            pair.getKey().mul(Var.of(c)).square().sum().backward();
            pair.getValue().step();
        }
        assertThat(device.value().toFloatArray()).containsExactly(heap.value().toFloatArray());
    }
}
