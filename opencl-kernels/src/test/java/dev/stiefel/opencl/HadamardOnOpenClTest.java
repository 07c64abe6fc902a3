package dev.stiefel.opencl;

import dev.stiefel.riemann.hadamard.HadamardTransform;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * riemann's fast Hadamard transforms on a device tensor run on the device (no transfer) and give the heap transform's
 * values: Sylvester orders (the FWHT alone) and H_{2^k} ⊗ B orders (a product, then the FWHT across each row's slab),
 * multiplied and multiplied transposed.
 */
class HadamardOnOpenClTest {
    @Test
    void deviceTransformsMatchTheHeapOnesAndStayOnTheDevice() {
        OpenClBackend cl = OpenCl.backend();
        Backend before = Backends.current();
        Random rnd = new Random(8);
        try {
            for (int n : new int[]{64, 12, 40, 172}) { // 2^6; 4·3, 8·5 (Paley blocks); 4·43 (a Williamson block)
                HadamardTransform h = HadamardTransform.of(n).normalized();
                Tensor x = Tensor.uniform(rnd, -1, 1, 7, n);
                Backends.use(CpuBackend.INSTANCE);
                Tensor want = h.multiply(x), wantT = h.multiplyTransposed(x);
                Backends.use(cl);
                Tensor dx = cl.resident(x);
                Transfers start = cl.transfers();
                Tensor got = h.multiply(dx), gotT = h.multiplyTransposed(dx);
                assertThat(got.isOnDevice()).isTrue();
                assertThat(cl.transfers().minus(start).downloads()).as("nothing comes to the heap").isZero();
                assertThat(got.maxAbsDiff(want)).as("n = " + n).isLessThan(1e-5);
                assertThat(gotT.maxAbsDiff(wantT)).as("n = " + n + " transposed").isLessThan(1e-5);
            }
        } finally {
            Backends.use(before);
        }
    }
}
