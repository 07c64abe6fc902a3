package dev.stiefel.opencl;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Σ x² in f64 on the device (the Riemannian optimizers' norms): the heap loop's value to f64 rounding, one small read. */
class SumOfSquaresOnOpenClTest extends OnDevice {

    @Test void sumsSquaresInF64WhereTheTensorIs() {
        Random rnd = new Random(41);
        for (int n : new int[]{1, 7, 33, 257, 70_001}) {
            Tensor x = Tensor.randn(rnd, n).mul(1e3f);
            double want = 0;
            for (float v : x.toFloatArray()) want += (double) v * v;
            Tensor dx = cl.resident(x);
            Transfers before = cl.transfers();
            double got = cl.sumOfSquares(dx).orElseThrow();
            Transfers moved = cl.transfers().minus(before);
            assertThat(got).as("n = %d", n).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-11 * want));
            // within f64 rounding of either order (n·2⁻⁵³); f32 squares or an f32 sum would be ~1e-7 off
            assertThat(moved.uploads()).isZero();
            assertThat(moved.downloads()).isEqualTo(1);
            assertThat(moved.downloadBytes()).as("n = %d", n).isLessThanOrEqualTo(8L * 256);
        }
        // a strided view: its elements, not its storage's
        Tensor m = Tensor.randn(rnd, 9, 13), view = m.t().narrow(0, 2, 5);
        double want = 0;
        for (float v : view.contiguous().toFloatArray()) want += (double) v * v;
        assertThat(cl.sumOfSquares(cl.resident(m).t().narrow(0, 2, 5)).orElseThrow()).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-11 * want));
        assertThat(cl.sumOfSquares(Tensor.zeros(0)).isPresent()).as("a heap tensor is left to the heap").isFalse();
        assertThat(CpuBackend.INSTANCE.sumOfSquares(m).isPresent()).as("the CPU leaves it to the heap loop").isFalse();
    }
}
