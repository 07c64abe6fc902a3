package dev.stiefel.opencl;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Concatenating device tensors assembles them on the device: the heap's values, nothing over the bus. */
class ConcatOnOpenClTest extends OnDevice {

    @Test void deviceTensorsAreConcatenatedOnTheDevice() {
        Random rnd = new Random(31);
        Backends.use(cl);
        for (int axis = 0; axis < 3; axis++) {
            int[] a = {3, 7, 5}, b = {3, 7, 5};
            a[axis] = 1;
            b[axis] = 9;
            Tensor x = Tensor.randn(rnd, a), y = Tensor.randn(rnd, b), z = Tensor.randn(rnd, 5, 7, 3).permute(2, 1, 0); // a strided view
            Tensor zPart = z.narrow(axis, 0, 2);
            Tensor want = Tensor.concat(axis, x, y, zPart.contiguous());
            Tensor dx = cl.resident(x), dy = cl.resident(y), dz = cl.resident(z).narrow(axis, 0, 2);
            Transfers before = cl.transfers();
            Tensor got = Tensor.concat(axis, dx, dy, dz);
            assertThat(cl.transfers().minus(before)).as("axis %d", axis).isEqualTo(new Transfers(0, 0, 0, 0));
            assertThat(got.isOnDevice()).isTrue();
            assertThat(got.shape()).containsExactly(want.shape());
            assertThat(got.toFloatArray()).as("axis %d", axis).containsExactly(want.toFloatArray());
            assertThat(Tensor.concat(axis, x, dy, zPart).toFloatArray()).as("host and device parts, axis %d", axis).containsExactly(want.toFloatArray());
        }
        Tensor ids = Tensor.ofInts(new int[]{4, 1, 7}, 1, 3), more = cl.resident(Tensor.ofInts(new int[]{2, 9}, 1, 2));
        assertThat(Tensor.concat(1, cl.resident(ids), more).toIntArray()).containsExactly(4, 1, 7, 2, 9);
    }
}
