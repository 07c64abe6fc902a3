package dev.stiefel.opencl;

import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The gradient of max and min (every straight-through range of a quantizer goes through them) on device tensors: the
 * CPU's values, computed on the device from the indices of the extremes there (nothing of the input's size crosses the bus).
 */
class ExtremaGradientOnOpenClTest extends OnDevice {

    /** d/dx Σ w ⊙ ext(x, axis) on the current backend. */
    static Tensor gradient(Tensor x, Tensor w, int axis, boolean max, boolean keepDim) {
        Var p = Var.param(x);
        Var e = max ? p.max(axis, keepDim) : p.min(axis, keepDim);
        e.mul(Var.of(w)).sum().backward();
        return p.grad();
    }

    @Test void maxAndMinGradientsAreTheCpusAndStayOnTheDevice() {
        Random rnd = new Random(8);
        for (int[] shape : new int[][]{{64, 48}, {6, 10, 40}, {300, 2}, {257, 1}})
            for (int axis = 0; axis < shape.length; axis++)
                for (boolean max : new boolean[]{true, false})
                    for (boolean keepDim : new boolean[]{true, false}) {
                        Tensor x = Tensor.randn(rnd, shape);
                        int[] reduced = keepDim ? shape.clone() : new int[shape.length - 1];
                        if (keepDim) reduced[axis] = 1;
                        else for (int d = 0, k = 0; d < shape.length; d++) if (d != axis) reduced[k++] = shape[d];
                        Tensor w = Tensor.randn(rnd, reduced);
                        Backends.use(CpuBackend.INSTANCE);
                        float[] cpu = gradient(x, w, axis, max, keepDim).toFloatArray();
                        Backends.use(cl);
                        Tensor dx = cl.resident(x), dw = cl.resident(w);
                        Transfers start = cl.transfers();
                        Tensor g = gradient(dx, dw, axis, max, keepDim);
                        Transfers moved = cl.transfers().minus(start);
                        assertThat(g.isOnDevice()).isTrue();
                        float[] got = g.toFloatArray();
                        String what = (max ? "max" : "min") + " axis " + axis + " of " + java.util.Arrays.toString(shape) + (keepDim ? " keepDim" : "");
                        for (int i = 0; i < cpu.length; i++) assertThat(got[i] == cpu[i]).as("%s, element %d: %s vs %s", what, i, got[i], cpu[i]).isTrue();
                        // the indices stay on the device and the scatter runs there: only the loss's seed (1.0) goes over
                        assertThat(moved).as(what).isEqualTo(new Transfers(1, 4, 0, 0));
                    }
    }

    /** A gather of one element per line (a loss at its targets), of every line and of some lines only: the CPU's gradient. */
    @Test void gatherGradientsOfOneElementPerLineAreTheCpus() {
        Random rnd = new Random(9);
        Tensor x = Tensor.randn(rnd, 5, 10);
        for (int rows : new int[]{5, 3}) {
            int[] at = new int[rows];
            for (int r = 0; r < rows; r++) at[r] = rnd.nextInt(10);
            Tensor index = Tensor.ofInts(at, rows, 1), w = Tensor.randn(rnd, rows, 1);
            Backends.use(CpuBackend.INSTANCE);
            Var hp = Var.param(x.copy());
            hp.gather(1, index).mul(Var.of(w)).sum().backward();
            Backends.use(cl);
            Var dp = Var.param(cl.resident(x));
            dp.gather(1, index).mul(Var.of(cl.resident(w))).sum().backward();
            float[] cpu = hp.grad().toFloatArray(), got = dp.grad().toFloatArray();
            assertThat(got).hasSameSizeAs(cpu);
            for (int i = 0; i < cpu.length; i++) assertThat(got[i] == cpu[i]).as("%d of %d rows, element %d: %s vs %s", rows, 5, i, got[i], cpu[i]).isTrue();
        }
    }
}
