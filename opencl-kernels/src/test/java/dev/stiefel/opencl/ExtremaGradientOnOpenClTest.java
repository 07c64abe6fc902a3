package dev.stiefel.opencl;

import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The gradient of max and min (every straight-through range of a quantizer goes through them) and of gathers on device
 * tensors: the CPU's bits, computed on the device from the indices there (nothing of the input's size crosses the bus).
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
                        for (int i = 0; i < cpu.length; i++) assertThat(bits(got[i])).as("%s, element %d: %s vs %s", what, i, got[i], cpu[i]).isEqualTo(bits(cpu[i]));
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
            for (int i = 0; i < cpu.length; i++) assertThat(bits(got[i])).as("%d of %d rows, element %d: %s vs %s", rows, 5, i, got[i], cpu[i]).isEqualTo(bits(cpu[i]));
        }
    }

    /**
     * A gather of k elements per line (KL-Top's student log-probabilities at the teacher's top-k classes), along the last
     * axis and along the first, with repeated indices: the CPU's gradient bit for bit (each line's elements added in
     * order), scattered on the device; with the index on the device (top-k's) only the loss's seed goes over.
     */
    @Test void gatherGradientsOfManyElementsPerLineAreTheCpusAndStayOnTheDevice() {
        Random rnd = new Random(10);
        for (int[] c : new int[][]{{7, 33, 5, 1}, {3, 1000, 1000, 1}, {9, 4, 6, 0}, {1, 257, 300, 1}}) {
            int rows = c[0], n = c[1], k = c[2], axis = c[3];
            int[] shape = axis == 1 ? new int[]{rows, n} : new int[]{n, rows}, ishape = axis == 1 ? new int[]{rows, k} : new int[]{k, rows};
            int[] at = new int[rows * k];
            for (int i = 0; i < at.length; i++) at[i] = rnd.nextInt(n); // repeats within a line, as any gather may have
            Tensor x = Tensor.randn(rnd, shape), w = Tensor.randn(rnd, ishape), index = Tensor.ofInts(at, ishape);
            Backends.use(CpuBackend.INSTANCE);
            Var hp = Var.param(x.copy());
            hp.gather(axis, index).mul(Var.of(w)).sum().backward();
            Backends.use(cl);
            Var dp = Var.param(cl.resident(x));
            Tensor dIndex = cl.resident(index), dw = cl.resident(w);
            Transfers start = cl.transfers();
            dp.gather(axis, dIndex).mul(Var.of(dw)).sum().backward();
            Transfers moved = cl.transfers().minus(start);
            float[] cpu = hp.grad().toFloatArray(), got = dp.grad().toFloatArray();
            String what = java.util.Arrays.toString(c);
            for (int i = 0; i < cpu.length; i++) assertThat(bits(got[i])).as("%s, element %d: %s vs %s", what, i, got[i], cpu[i]).isEqualTo(bits(cpu[i]));
            assertThat(moved.uploads()).as("%s: %s", what, moved).isEqualTo(1); // the seed; a range check may read the index
            assertThat(moved.uploadBytes()).as("%s: %s", what, moved).isEqualTo(4);
        }
    }

    private static int bits(float v) { return Float.floatToRawIntBits(v); }
}
