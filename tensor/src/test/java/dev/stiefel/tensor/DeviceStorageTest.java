package dev.stiefel.tensor;

import dev.stiefel.tensor.backend.UnaryOp;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What the tensor module does with a {@link DeviceStorage} it cannot read directly, shown with a stand-in device that
 * counts its transfers: reads come over in one bulk transfer, views made contiguous stay on the device, and the CPU
 * backend brings a device tensor over once instead of element by element.
 */
class DeviceStorageTest {
    /** A "device" that is a heap array behind the interface, counting what Tensor asks of it. */
    static final class FakeDevice implements DeviceStorage {
        final float[] data;
        final DType dtype;
        int toHost, onDevice, elementReads;

        FakeDevice(float[] data, DType dtype) { this.data = data; this.dtype = dtype; }

        @Override public DType dtype() { return dtype; }
        @Override public long size() { return data.length; }
        @Override public float getFloat(long i) { elementReads++; return data[(int) i]; }
        @Override public void setFloat(long i, float v) { data[(int) i] = v; }

        @Override public Tensor toHost(Tensor view) {
            toHost++;
            Tensor heap = Tensor.view(dtype == DType.I32 ? new IntStorage(toInts()) : new FloatStorage(data.clone()), view.offset(), view.shape(), view.strides());
            return heap.copy();
        }

        @Override public Tensor contiguousOnDevice(Tensor view) {
            onDevice++;
            float[] out = new float[view.numel()];
            int[] shape = view.shape(), idx = new int[shape.length];
            for (int e = 0; e < out.length; e++) {
                out[e] = data[view.indexOf(idx)];
                for (int d = shape.length - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
            }
            return Tensor.of(new FakeDevice(out, dtype), shape);
        }

        int[] toInts() {
            int[] r = new int[data.length];
            for (int i = 0; i < r.length; i++) r[i] = (int) data[i];
            return r;
        }
    }

    @Test
    void readsAreOneBulkTransferAndContiguousViewsStayOnTheDevice() {
        float[] values = {1, 2, 3, 4, 5, 6};
        FakeDevice dev = new FakeDevice(values.clone(), DType.F32);
        Tensor x = Tensor.of(dev, 2, 3);
        assertThat(x.isOnDevice()).isTrue();
        assertThat(x.toFloatArray()).containsExactly(values);
        assertThat(dev.toHost).isEqualTo(1);
        assertThat(x.copy().isOnDevice()).as("copy() is a heap copy").isFalse();
        assertThat(x.to(DType.BF16).toFloatArray()).containsExactly(values);
        assertThat(dev.elementReads).as("no element-by-element reads").isZero();

        Tensor t = x.t().contiguous();
        assertThat(t.isOnDevice()).as("contiguous() of a device view stays on the device").isTrue();
        assertThat(dev.onDevice).isEqualTo(1);
        assertThat(t.toFloatArray()).containsExactly(1, 4, 2, 5, 3, 6);
        assertThat(x.t().reshape(6).isOnDevice()).isTrue();
        assertThat(x.toHost().isOnDevice()).isFalse();
        Tensor heap = Tensor.wrap(values.clone(), 2, 3);
        assertThat(heap.toHost()).isSameAs(heap);
    }

    @Test
    void cpuBackendBringsADeviceTensorOverOnceAndRefusesToWriteIntoOne() {
        FakeDevice dev = new FakeDevice(new float[]{-1, 2, -3, 4}, DType.F32);
        Tensor x = Tensor.of(dev, 2, 2);
        Tensor y = CpuBackend.INSTANCE.unary(UnaryOp.ABS, x, 0, 0);
        assertThat(y.toFloatArray()).containsExactly(1, 2, 3, 4);
        Tensor dst = Tensor.zeros(2, 2);
        CpuBackend.INSTANCE.copy(x.t(), dst);
        assertThat(dst.toFloatArray()).containsExactly(-1, -3, 2, 4);
        assertThat(dev.elementReads).isZero();
        assertThatThrownBy(() -> CpuBackend.INSTANCE.copy(dst, x)).hasMessageContaining("device tensor");
    }

    @Test
    void intsComeOverExactly() {
        FakeDevice dev = new FakeDevice(new float[]{7, 3, 9}, DType.I32);
        Tensor ids = Tensor.of(dev, 3);
        assertThat(ids.toIntArray()).containsExactly(7, 3, 9);
        assertThat(ids.getInt(2)).isEqualTo(9);
        assertThat(Arrays.stream(ids.toIntArray()).sum()).isEqualTo(19);
    }
}
